"""Helpers for the tests of `llminst cancel` and `llminst top`: wait for a call to stream into a
store file, and read a pseudo-terminal's screen through pyte."""

from __future__ import annotations

from pathlib import Path

import pyte
import trio

from llminst._core.records import CallRecord, CallState
from llminst.store import SQLiteStore

__all__ = ["SLOW_STREAM", "call_record", "screen_lines", "wait_for_output"]

# An echo answer of 600 words, one every 0.2 s: runs two minutes unless cancelled.
SLOW_STREAM = "[[echo:delay=0.2]] " + " ".join(f"w{i}" for i in range(600))


async def call_record(store_file: Path, call_id: str) -> CallRecord | None:
    """The call's record, read through a store opened and closed for the purpose."""
    store = await SQLiteStore.open(store_file)
    try:
        return await store.get_call(call_id)
    finally:
        await store.aclose()


async def wait_for_output(store_file: Path, min_chars: int = 3) -> CallRecord:
    """The newest running call in the store once it has some output stored (polled)."""
    while True:
        if await trio.Path(store_file).exists():
            store = await SQLiteStore.open(store_file)
            try:
                found = await store.list_calls(states=[CallState.RUNNING])
            finally:
                await store.aclose()
            if found and found[0].output_chars >= min_chars:
                return found[0]
        await trio.sleep(0.1)


def screen_lines(received: bytes, rows: int, cols: int) -> list[str]:
    """The screen a terminal of `rows` x `cols` shows after `received` (trailing blanks cut)."""
    screen = pyte.Screen(cols, rows)
    pyte.ByteStream(screen).feed(received)
    return [line.rstrip() for line in screen.display]
