"""`llminst top`'s pure parts: keys from terminal bytes, the picked call across refreshes, and
the figures each row shows (never one that was not reported)."""

from __future__ import annotations

from rich.console import Console

from llminst._core.records import CallRecord, CallState
from llminst.cli.monitor import Selection, read_keys, render


def rec(call_id: str, **fields: object) -> CallRecord:
    values: dict[str, object] = {"model": "echo", "state": CallState.RUNNING, "created_at": 1000.0}
    values.update(fields)
    return CallRecord(call_id=call_id, **values)  # type: ignore[arg-type]


def test_keys_are_read_from_what_the_terminal_sends() -> None:
    assert read_keys(b"jk\x1b[A\x1b[B\x1bOAcq") == [
        "down", "up", "up", "down", "up", "cancel", "quit",
    ]  # fmt: skip
    assert read_keys(b"x\x1b[Cz") == []  # unknown keys (and the right arrow) are skipped
    assert read_keys(b"") == []


def test_the_pick_follows_its_call_and_stops_at_either_end() -> None:
    a, b, c = rec("a"), rec("b"), rec("c")
    picked = Selection()
    picked.keep_in([a, b, c])
    assert picked.call_id == "a"
    picked.move([a, b, c], -1)
    assert picked.call_id == "a"
    picked.move([a, b, c], 1)
    picked.move([a, b, c], 1)
    picked.move([a, b, c], 1)
    assert picked.call_id == "c"
    picked.keep_in([c, a])  # reordered by a refresh: still the same call
    assert picked.call_id == "c"
    picked.keep_in([a, b])  # gone from the list: the first one
    assert picked.call_id == "a"
    picked.keep_in([])
    assert picked.call_id is None and picked.picked([]) is None


def shown(record: CallRecord, now: float) -> list[str]:
    console = Console(width=300, no_color=True)
    with console.capture() as captured:
        console.print(render([record], now=now))
    return captured.get().splitlines()[2].split()


def test_a_row_shows_only_what_was_reported() -> None:
    bare = rec("r1", started_at=1000.0)
    assert shown(bare, now=1075.0) == ["r1", "echo", "running", "1m15s", "0"]
    only_output = rec(
        "r2", state=CallState.SUCCEEDED, started_at=1000.0, finished_at=1001.25,
        usage={"output_tokens": 7}, output_chars=5,
    )  # fmt: skip
    assert shown(only_output, now=5000.0) == ["r2", "echo", "succeeded", "1.2s", "5", "?/7"]
    queued = rec("r3", state=CallState.QUEUED, usage={"total": 3})
    assert shown(queued, now=1000.5) == ["r3", "echo", "queued", "0.5s", "0"]
