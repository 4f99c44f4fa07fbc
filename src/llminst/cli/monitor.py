"""What `llminst top` shows and how it reacts to keys, without a terminal: the calls to list
(`gather`), the table (`render`), the keys (`read_keys`) and the selection (`Selection`).

The table has one row per call, running and queued calls first, then the most recent: id,
model, state, elapsed time, characters of output, tokens in/out, cost, working directory and
session. `Selection` follows a call by its id, so a refresh that reorders the rows keeps the
same call picked. What it must never do: write to a terminal (the command does, through rich),
touch the store beyond reading it, or invent a figure (a missing count or cost is blank).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any, Literal

import attrs
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .._core.records import CallRecord, CallState
from ..store import CallStore

__all__ = ["KEYS", "Selection", "gather", "read_keys", "render"]

_ACTIVE = (CallState.QUEUED, CallState.RUNNING)
_STATE_STYLES = {
    CallState.QUEUED: "yellow",
    CallState.RUNNING: "bold green",
    CallState.SUCCEEDED: "green",
    CallState.FAILED: "red",
    CallState.CANCELLED: "magenta",
    CallState.INTERRUPTED: "red",
}
# Bytes a terminal sends for each key `top` knows, as the name it acts on.
KEYS = {
    b"\x1b[A": "up",
    b"\x1bOA": "up",
    b"k": "up",
    b"\x1b[B": "down",
    b"\x1bOB": "down",
    b"j": "down",
    b"c": "cancel",
    b"q": "quit",
    b"Q": "quit",
}
HELP = "up/down or j/k: pick a call   c: cancel it   q: quit"


async def gather(store: CallStore, *, limit: int) -> list[CallRecord]:
    """Running and queued calls (oldest first), then the most recent others, `limit` in all."""
    active = await store.list_calls(states=_ACTIVE, limit=limit)
    recent = await store.list_calls(limit=limit)
    seen = {record.call_id for record in active}
    others = [record for record in recent if record.call_id not in seen]
    return [*reversed(active), *others][:limit]


@attrs.define
class Selection:
    """The call picked in the table, followed by its id across refreshes."""

    call_id: str | None = None

    def keep_in(self, records: Sequence[CallRecord]) -> None:
        """Pick the first call when the picked one is no longer listed (or none was)."""
        ids = [record.call_id for record in records]
        if self.call_id not in ids:
            self.call_id = ids[0] if ids else None

    def move(self, records: Sequence[CallRecord], step: int) -> None:
        """Pick the call `step` rows below (negative: above), stopping at either end."""
        ids = [record.call_id for record in records]
        if not ids:
            self.call_id = None
            return
        here = ids.index(self.call_id) if self.call_id in ids else 0
        self.call_id = ids[max(0, min(len(ids) - 1, here + step))]

    def picked(self, records: Sequence[CallRecord]) -> CallRecord | None:
        return next((r for r in records if r.call_id == self.call_id), None)


def read_keys(data: bytes) -> list[str]:
    """The keys in what the terminal sent (unknown bytes are skipped, one at a time)."""
    keys: list[str] = []
    at = 0
    while at < len(data):
        for sequence, name in KEYS.items():
            if data.startswith(sequence, at):
                keys.append(name)
                at += len(sequence)
                break
        else:
            at += 1
    return keys


def render(
    records: Sequence[CallRecord],
    *,
    now: float,
    picked: str | None = None,
    message: str = "",
    interactive: bool = False,
    store_problem: str | None = None,
) -> RenderableType:
    """The table of `records` (the `picked` call highlighted), a message and the keys' help;
    above the table, why the store is degraded (`store_problem`) while it is."""
    table = Table(box=None, header_style="bold", pad_edge=False, expand=False)
    for column, justify in _COLUMNS:
        table.add_column(column, justify=justify, no_wrap=True)
    for record in records:
        style = "reverse" if interactive and record.call_id == picked else None
        table.add_row(*_cells(record, now), style=style)
    running = sum(1 for record in records if record.state in _ACTIVE)
    title = Text(f"llminst top   {running} running   {time.strftime('%H:%M:%S')}", "bold")
    parts: list[RenderableType] = [title, table]
    if store_problem:
        parts.insert(1, Text(f"store degraded: {store_problem}", style="bold red"))
    if not records:
        parts.append(Text("no calls in the store yet"))
    if message:
        parts.append(Text(message))
    if interactive:
        parts.append(Text(HELP, style="dim"))
    return Group(*parts)


_COLUMNS: tuple[tuple[str, Literal["left", "right"]], ...] = (
    ("ID", "left"),
    ("MODEL", "left"),
    ("STATE", "left"),
    ("ELAPSED", "right"),
    ("CHARS", "right"),
    ("TOKENS", "right"),
    ("COST", "right"),
    ("CWD", "left"),
    ("SESSION", "left"),
)


def _cells(record: CallRecord, now: float) -> tuple[str | Text, ...]:
    return (
        record.call_id,
        record.model,
        Text(record.state.value, style=_STATE_STYLES.get(record.state, "")),
        _elapsed(record, now),
        str(record.output_chars),
        _tokens(record.usage),
        "" if record.cost_usd is None else f"${record.cost_usd:.4f}",
        _short_path(record.cwd),
        record.session or "",
    )


def _elapsed(record: CallRecord, now: float) -> str:
    start = record.started_at or record.created_at
    end = record.finished_at if record.state.done else now
    if end is None:
        return ""
    seconds = max(0.0, end - start)
    return f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def _tokens(usage: dict[str, Any] | None) -> str:
    """``in/out`` as the CLI reported them (blank where it did not)."""
    if not usage:
        return ""
    counts = [usage.get("input_tokens"), usage.get("output_tokens")]
    if not any(isinstance(count, int) for count in counts):
        return ""
    return "/".join(str(count) if isinstance(count, int) else "?" for count in counts)


def _short_path(path: str | None) -> str:
    if not path:
        return ""
    home = os.path.expanduser("~")
    return "~" + path[len(home) :] if path.startswith(home + os.sep) else path
