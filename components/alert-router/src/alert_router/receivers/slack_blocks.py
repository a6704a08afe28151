"""Block Kit rendering for Slack: severity, thing, values, start time, resolved state.

Every interpolated string is escaped (`&`, `<`, `>`), so a label value of `<!channel>` pings no one,
and every section's text is cut to Slack's 3,000 characters.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from alert_router.notification import Notification

MAX_SECTION_CHARS = 3000
MAX_ALERTS_SHOWN = 10  # Slack allows 50 blocks; a message listing more alerts is unreadable anyway
SEVERITY_ICONS = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
RESOLVED_ICON = ":white_check_mark:"


def escape(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int = MAX_SECTION_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    # Never end inside an escape sequence such as "&am".
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def _time(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def title(n: Notification) -> str:
    names = sorted({a["labels"].get("alertname", "?") for a in n.alerts})
    severity = n.common_labels.get("severity") or max(
        (a["labels"].get("severity", "info") for a in n.alerts), key=lambda s: ("info", "warning", "critical").index(s)
        if s in ("info", "warning", "critical") else 0,
    )  # fmt: skip
    icon = RESOLVED_ICON if n.status == "resolved" else SEVERITY_ICONS.get(severity, ":bell:")
    count = f"{len(n.firing)} firing" if n.status == "firing" else "resolved"
    if n.status == "firing" and n.resolved:
        count += f", {len(n.resolved)} resolved"
    repeat = " (repeat)" if n.repeat else ""
    return f"{icon} *[{escape(severity.upper())}] {escape(', '.join(names))}* on *{escape(n.thing)}* — {count}{repeat}"


def _alert_section(alert: Mapping[str, Any]) -> dict[str, Any]:
    labels = alert["labels"]
    status = "RESOLVED" if alert["status"] == "resolved" else "FIRING"
    summary = alert["annotations"].get("summary") or labels.get("alertname", "")
    lines = [
        f"*{escape(summary)}*",
        f"*Status:* {status}   *Severity:* {escape(labels.get('severity', '-'))}   "
        f"*Thing:* {escape(labels.get('thing', '-'))}",
        f"*Value:* {escape(_value(alert.get('value')))}   *Started:* {_time(alert.get('startsAt'))}",
    ]
    if alert["status"] == "resolved":
        lines.append(f"*Resolved:* {_time(alert.get('endsAt'))}")
    if alert["annotations"].get("description"):
        lines.append(escape(alert["annotations"]["description"]))
    extra = {k: v for k, v in labels.items() if k not in ("alertname", "severity", "thing")}
    if extra:
        lines.append(" ".join(f"`{escape(k)}={escape(v)}`" for k, v in sorted(extra.items())))
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip("\n".join(lines))}}


def render(n: Notification) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text, blocks) for chat.postMessage or an incoming webhook."""
    head = title(n)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": _clip(head)}}]
    for alert in n.alerts[:MAX_ALERTS_SHOWN]:
        blocks.append({"type": "divider"})
        blocks.append(_alert_section(alert))
    if len(n.alerts) > MAX_ALERTS_SHOWN:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": f"… and {len(n.alerts) - MAX_ALERTS_SHOWN} more"}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"notification `{escape(n.id)}`"}]})
    return _clip(head), blocks
