"""Slack through slack_sdk: an incoming webhook, or a bot token + channel via chat.postMessage.

One attempt per `send`; slack_sdk's own retry handlers are switched off (`retry_handlers=[]`) so that
retries stay in the delivery worker, which never sleeps inside a send and so cannot hold up other
receivers. slack_sdk logs request URLs and headers at DEBUG, which would leak the webhook URL and the
token: its clients get a logger that never goes below INFO.
"""

from __future__ import annotations

import http.client
import logging
import socket
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from alert_router.config import IntegrationSpec, SlackSpec
from alert_router.delivery import Delivered, DeliveryResult, Permanent, Retry
from alert_router.notification import Notification
from alert_router.receivers.slack_blocks import render
from alert_router.secrets import SecretError, SecretSource

logger = logging.getLogger(__name__)

# Web API errors worth another try; every other error (invalid_auth, channel_not_found,
# not_in_channel, account_inactive, token_revoked, ...) needs a human and is permanent.
RETRYABLE_API_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                                  "request_timeout"})  # fmt: skip
NETWORK_ERRORS = (urllib.error.URLError, TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException,
                  OSError)  # fmt: skip
DEFAULT_API_URL = "https://slack.com/api/"


# Errors that a rotated or revoked credential gives: worth one re-read of the secret before giving up.
AUTH_API_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"})
AUTH_HTTP_STATUSES = frozenset({401, 403})
AUTH_WEBHOOK_STATUSES = frozenset({401, 403, 404, 410})  # a deleted or rotated webhook answers 404/410


class _RedactingFilter(logging.Filter):
    """slack_sdk logs request errors itself ("Failed to send a request ... {err}"): redact them."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def _sdk_logger(key: str, redact: Callable[[str], str]) -> logging.Logger:
    quiet = logging.getLogger(f"{__name__}.sdk.{key}")
    if quiet.level == logging.NOTSET or quiet.level < logging.INFO:
        quiet.setLevel(logging.INFO)  # slack_sdk logs URLs and headers at DEBUG
    for f in quiet.filters:
        if isinstance(f, _RedactingFilter):
            f.redact = redact
            break
    else:
        quiet.addFilter(_RedactingFilter(redact))
    return quiet


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    for name in ("Retry-After", "retry-after"):
        value = headers.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


@dataclass(frozen=True)
class _AuthFailure:
    """A permanent failure that a rotated credential may explain."""

    result: Permanent


class SlackIntegration:
    def __init__(self, spec: IntegrationSpec, secrets: SecretSource) -> None:
        assert spec.slack is not None
        self.key = spec.key
        self.spec: SlackSpec = spec.slack
        self._secrets = secrets
        self.min_interval = self.spec.min_interval
        # Pace per channel: a webhook is bound to one channel, so the receiver stands for it.
        self.pacing_key = f"slack:{self.spec.channel}" if self.spec.uses_web_api else f"slack-webhook:{self.key}"
        self._secret: str | None = None
        if self.spec.webhook_url is not None:
            secrets.register(self.spec.webhook_url)  # inline in the configuration, but a secret all the same
        self._logger = _sdk_logger(self.key, secrets.redact)

    @property
    def _from_secret_store(self) -> bool:
        return self.spec.webhook_url is None  # an inline URL cannot change without a new configuration

    def _credential(self) -> str:
        if self._secret is None:
            s = self.spec
            if s.webhook_url is not None:
                self._secret = s.webhook_url
            elif s.uses_web_api:
                self._secret = self._secrets.read(arn=s.bot_token_secret_arn, file=s.bot_token_file,
                                                  fields=("botToken", "token"))  # fmt: skip
            else:
                self._secret = self._secrets.read(arn=s.webhook_url_secret_arn, file=s.webhook_url_file,
                                                  fields=("webhookUrl", "url"))  # fmt: skip
        return self._secret

    def send(self, notification: Notification) -> DeliveryResult:
        try:
            credential = self._credential()
        except SecretError as err:
            return Retry(f"Slack credential unavailable: {err}")
        result = self._attempt(credential, notification)
        if not (isinstance(result, _AuthFailure) and self._from_secret_store):
            return result.result if isinstance(result, _AuthFailure) else result
        # The secret may have been rotated since it was read: read it once more before giving up.
        self._secret = None
        try:
            fresh = self._credential()
        except SecretError as err:
            return Retry(f"Slack credential unavailable after an auth failure ({result.result.reason}): {err}")
        if fresh == credential:
            return result.result
        logger.info("Slack integration %s: the secret changed since it was read; using the new one", self.key)
        again = self._attempt(fresh, notification)
        return again.result if isinstance(again, _AuthFailure) else again

    def _attempt(self, credential: str, notification: Notification) -> DeliveryResult | _AuthFailure:
        text, blocks = render(notification)
        try:
            if self.spec.uses_web_api:
                return self._post_message(credential, text, blocks)
            return self._webhook(credential, text, blocks)
        except (http.client.InvalidURL, ValueError) as err:  # e.g. a space in the URL: no retry can mend it
            return Permanent(f"Slack URL is invalid: {type(err).__name__}: {err}")
        except NETWORK_ERRORS as err:
            return Retry(f"Slack unreachable: {type(err).__name__}: {err}")

    def _webhook(self, url: str, text: str, blocks: list[dict[str, Any]]) -> DeliveryResult | _AuthFailure:
        client = WebhookClient(url, timeout=int(max(1, self.spec.timeout)), retry_handlers=[], logger=self._logger)
        response = client.send(text=text, blocks=blocks)
        status, body = response.status_code, (response.body or "").strip()
        if status == 200:
            return Delivered()
        if status == 429:
            return Retry("webhook rate limited (429)", _retry_after(response.headers))
        if status >= 500:
            return Retry(f"webhook HTTP {status}: {body[:200]}")
        if status == 404:
            failure = Permanent(f"webhook not found (HTTP 404{': ' + body[:100] if body else ''}); check the URL")
        else:
            failure = Permanent(f"webhook refused the message (HTTP {status}: {body[:200]})")
        return _AuthFailure(failure) if status in AUTH_WEBHOOK_STATUSES else failure

    def _post_message(self, token: str, text: str, blocks: list[dict[str, Any]]) -> DeliveryResult | _AuthFailure:
        client = WebClient(token=token, base_url=self.spec.api_url or DEFAULT_API_URL,
                           timeout=int(max(1, self.spec.timeout)), retry_handlers=[], logger=self._logger)  # fmt: skip
        try:
            client.chat_postMessage(channel=self.spec.channel or "", text=text, blocks=blocks)
        except SlackApiError as err:
            return self._classify_api_error(err)
        return Delivered()

    @staticmethod
    def _classify_api_error(err: SlackApiError) -> DeliveryResult | _AuthFailure:
        response = err.response
        if isinstance(response, dict):  # slack_sdk hands back a plain dict when the body was not JSON
            status, headers, error = response.get("status"), response.get("headers"), "unexpected response body"
        else:
            status, headers = response.status_code, response.headers
            error = response.get("error", "unknown_error") if response.data else "empty response"
        if status == 429 or error == "ratelimited":
            return Retry("chat.postMessage rate limited (429)", _retry_after(headers))
        if (isinstance(status, int) and status >= 500) or error in RETRYABLE_API_ERRORS:
            return Retry(f"chat.postMessage HTTP {status}: {error}")
        failure = Permanent(f"chat.postMessage failed: {error} (HTTP {status})")
        return _AuthFailure(failure) if error in AUTH_API_ERRORS or status in AUTH_HTTP_STATUSES else failure
