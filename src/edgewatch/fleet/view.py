"""The live terminal table (rich), pinned in place and redrawn once a second from FleetTable.rows."""

from __future__ import annotations

from rich.console import Console
from rich.live import Live
from rich.table import Table

from edgewatch.fleet.model import SEVERITIES, Event, FleetTable

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def render(table: FleetTable, now: float, sort: str, group: str | None, stale_only: bool, rows: int) -> Table:
    shown = table.rows(sort, group, stale_only, limit=rows)
    title = f"EdgeWatch fleet: {len(table)} devices" + (f" matching {group}" if group else "")
    if len(shown) == rows:
        title += f" (first {rows})"
    grid = Table(title=title, expand=True)
    for column, justify in (("thing", "left"), ("status", "left"), ("last seen", "right"), ("cpu", "right"),
                            ("mem", "right"), ("worst disk", "right"), ("temp", "right"), ("alerts", "left")):
        grid.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in shown:
        alerts = " ".join(f"[{SEVERITY_STYLE.get(s, '')}]{row['alerts'][s]} {s}[/]" for s in
                          (*SEVERITIES, *sorted(set(row["alerts"]) - set(SEVERITIES))) if row["alerts"].get(s))
        status = "[bold red]STALE[/]" if row["status"] == "STALE" else "[green]OK[/]"
        temp = "-" if row["temp"] is None else f"{row['temp']:.0f}°C"
        grid.add_row(row["thing"], status, _ago(now - row["lastSeen"]), _percent(row["cpu"]), _percent(row["mem"]),
                     _percent(row["disk"]), temp, alerts or "-")
    return grid


class LiveTable:
    def __init__(self, sort: str, group: str | None, stale_only: bool, rows: int, console: Console | None = None,
                 ) -> None:
        self.sort, self.group, self.stale_only, self.rows = sort, group, stale_only, rows
        self._live = Live(console=console, auto_refresh=False, screen=False, transient=False)

    def __enter__(self) -> LiveTable:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def events(self, events: list[Event]) -> None:
        pass  # the table shows state; events only matter in --json mode

    def refresh(self, table: FleetTable, now: float) -> None:
        self._live.update(render(table, now, self.sort, self.group, self.stale_only, self.rows), refresh=True)
