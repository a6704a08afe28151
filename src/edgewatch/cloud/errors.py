"""One-line, actionable messages for the AWS errors a user can fix."""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    TokenRetrievalError,
)

ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException", "Forbidden", "403"}
)
EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidClientTokenId"})


class CloudError(Exception):
    """An error whose message is one line telling the user what to fix."""


def client_error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError ('' for anything else)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def explain(exc: BaseException) -> str:
    """Turn an AWS/botocore exception into one line saying what to fix."""
    if isinstance(exc, CloudError):
        return str(exc)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return (
            "no AWS credentials found: pass --profile NAME, set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY, or run `aws configure` / `aws sso login`"
        )
    if isinstance(exc, TokenRetrievalError):
        return f"AWS SSO token expired or missing: run `aws sso login` ({exc})"
    if isinstance(exc, ProfileNotFound):
        return f"AWS profile not found: {exc}; check --profile / AWS_PROFILE against ~/.aws/config"
    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region, set AWS_REGION, or set a region in your AWS profile"
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach the AWS endpoint ({exc}); check the network, --region and AWS_ENDPOINT_URL"
    if isinstance(exc, ClientError):
        code = client_error_code(exc)
        op = exc.operation_name
        message = exc.response.get("Error", {}).get("Message", "")
        if code in ACCESS_DENIED_CODES:
            return (
                f"access denied calling {op}: grant your identity the permissions in "
                f"deployment/policies/operator-policy.json ({message or code})"
            )
        if code in EXPIRED_CODES:
            return f"AWS credentials rejected calling {op} ({code}): refresh them (`aws sso login` or new keys)"
        return f"{op} failed: {code}: {message}"
    return str(exc)
