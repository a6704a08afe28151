"""Configuration chores every component has: the start-up configuration, the last good
configuration, and answering a deployment's validation request (SubscribeToValidateConfigurationUpdates)
with ACCEPTED/REJECTED.

A stored configuration that the component cannot use at start-up is treated like a rejected
update: the component logs why and runs on the last configuration it used successfully, or on its
defaults when there is none, and says which. API:

    last_good = LastGoodConfig(work_path / "last-good-config.json")
    last_good.load() -> Mapping | None    # None when absent or unusable (a corrupt file is moved aside)
    last_good.save(raw) -> bool           # atomically: temp file, fsync, rename; mode 0600

    choice = choose_config(ipc.get_configuration, parse_config, last_good)
    choice.config      # the parsed configuration to run on
    choice.source      # "stored" | "last-good" | "defaults"
    choice.reason      # why the stored configuration was not used ("" when it was)
    choice.fallback    # True unless source == "stored"; say so in the log (done here) and in health

`choose_config` saves the stored configuration as the new last good one when it is used; a
component also calls `last_good.save(raw)` whenever it applies a live update. The saved copy never
holds `accessControl` (the nucleus owns it; a component never rebuilds access control from a file it
wrote). Configuration values are never logged, only the reasons a reader gives.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from awsiot.greengrasscoreipc import model
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

from edgewatch_shared.config_values import ConfigValueError, check_document
from edgewatch_shared.private_files import move_aside, write_atomic

logger = logging.getLogger(__name__)

ConfigT = TypeVar("ConfigT")
ConfigSource = Literal["stored", "last-good", "defaults"]
# Keys never persisted by a component: the nucleus owns them.
NUCLEUS_KEYS = frozenset({"accessControl"})
# A configuration file bigger than this is not one this component wrote.
MAX_LAST_GOOD_BYTES = 4 * 1024 * 1024


class LastGoodConfig:
    """The last configuration a component ran on, as a JSON file under its work folder."""

    def __init__(self, path: Path, *, now: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._now = now

    def load(self) -> Mapping[str, Any] | None:
        """The saved configuration, or None when there is none; an unreadable file is moved aside."""
        try:
            if not self.path.exists():
                return None
            if self.path.stat().st_size > MAX_LAST_GOOD_BYTES:
                raise ValueError(f"larger than {MAX_LAST_GOOD_BYTES} bytes")
            doc = json.loads(self.path.read_bytes())
            return check_document(doc)
        except OSError as err:
            logger.error("last good configuration %s unreadable (%s)", self.path, err.strerror or type(err).__name__)
            return None
        except (ValueError, RecursionError) as err:  # JSONDecodeError, ConfigValueError, UnicodeDecodeError
            reason = err.reason if isinstance(err, ConfigValueError) else type(err).__name__
            try:
                moved: Path | str = move_aside(self.path, self._now())
            except OSError as move_err:
                moved = f"(could not move it: {move_err.strerror})"
            logger.error("last good configuration %s is corrupt (%s); moved aside to %s", self.path, reason, moved)
            return None

    def save(self, config: Mapping[str, Any]) -> bool:
        """Write `config` (minus nucleus keys) atomically with mode 0600; False (logged) when it could not."""
        doc = {k: v for k, v in config.items() if k not in NUCLEUS_KEYS}
        try:
            data = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError, RecursionError) as err:
            logger.error("last good configuration not saved: not JSON (%s)", type(err).__name__)
            return False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, data)
        except OSError as err:  # e.g. a full disk: keep running, the previous file stays intact
            logger.error("last good configuration not saved to %s: %s", self.path, err.strerror or err)
            return False
        return True



@dataclass(frozen=True)
class ConfigChoice(Generic[ConfigT]):
    config: ConfigT
    source: ConfigSource
    reason: str = ""

    @property
    def fallback(self) -> bool:
        return self.source != "stored"

    def describe(self) -> str:
        """One line for health and logs: which configuration runs and why."""
        if not self.fallback:
            return "running on the stored configuration"
        which = "the last good configuration" if self.source == "last-good" else "the default configuration"
        return f"running on {which}: stored configuration unusable ({self.reason})"


def _parse(parse: Callable[[Any], ConfigT], raw: Any) -> ConfigT:
    # The same bounds the validator applies; any parser failure is an unusable configuration.
    try:
        return parse(check_document(raw))
    except ConfigValueError:
        raise
    except Exception as err:
        logger.exception("configuration parser failed")
        raise ConfigValueError("configuration", f"could not be checked ({type(err).__name__})") from err


def choose_config(
    read: Callable[[], Any], parse: Callable[[Any], ConfigT], last_good: LastGoodConfig | None = None
) -> ConfigChoice[ConfigT]:
    """The configuration to start on: stored if usable, else the last good one, else defaults.

    Never raises (only `parse(None)`, the defaults, must work). Logs which one was chosen and why.
    """
    try:
        raw = read()
    except Exception as err:  # IPC down or refused: the reason has no configuration values in it
        reason = f"could not read it: {type(err).__name__}: {str(err)[:200]}"
    else:
        try:
            config = _parse(parse, raw)
        except ConfigValueError as err:
            reason = str(err)
        else:
            if last_good is not None and isinstance(raw, Mapping):
                last_good.save(raw)
            return ConfigChoice(config, "stored")
    choice: ConfigChoice[ConfigT] | None = None
    saved = last_good.load() if last_good is not None else None
    if saved is not None:
        try:
            choice = ConfigChoice(_parse(parse, saved), "last-good", reason)
        except ConfigValueError as err:
            logger.error("last good configuration unusable too: %s", err)
    if choice is None:
        choice = ConfigChoice(parse(None), "defaults", reason)
    logger.error("%s", choice.describe())
    return choice


def initial_config(read: Callable[[], Any], parse: Callable[[Any], ConfigT]) -> ConfigT:
    """The configuration at start; defaults (`parse(None)`) when it is unreadable or invalid.

    Kept for components without a last good configuration; `choose_config` says more.
    """
    return choose_config(read, parse).config


def answer_validation(
    client: GreengrassCoreIPCClientV2,
    event: model.ValidateConfigurationUpdateEvents,
    validate: Callable[[Mapping[str, Any]], str | None] | None,
) -> None:
    """Report a proposed configuration ACCEPTED, or REJECTED with `validate`'s reason."""
    request = event.validate_configuration_update_event
    if request is None or validate is None:
        return
    try:
        reason = validate(request.configuration or {})
    except Exception as err:  # a validator must answer; a crash here would leave the deployment waiting
        logger.exception("configuration validator failed")
        reason = f"configuration: could not be checked ({type(err).__name__})"
    validity = model.ConfigurationValidityStatus
    status = validity.ACCEPTED if reason is None else validity.REJECTED
    logger.info("configuration of deployment %s: %s %s", request.deployment_id, status, reason or "")
    try:
        client.send_configuration_validity_report(
            configuration_validity_report=model.ConfigurationValidityReport(
                status=status, deployment_id=request.deployment_id, message=reason
            )
        )
    except Exception:
        logger.exception("could not send the configuration validity report")
