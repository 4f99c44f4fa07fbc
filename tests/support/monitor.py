"""Helpers for the tests of `llminst cancel` and `llminst top`: wait for a call to stream into a
store file, and read a pseudo-terminal's screen through pyte."""

from __future__ import annotations

import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pexpect
import pyte
import trio

from llminst._core.records import CallRecord, CallState
from llminst.store import SQLiteStore

__all__ = ["SLOW_STREAM", "Terminal", "call_record", "screen_lines", "wait_for_output"]

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


class Terminal:
    """A command on a pseudo-terminal (pexpect), its screen replayed through pyte as it comes.

    Args:
        argv: the command.
        rows, cols: the terminal's size.
    """

    def __init__(self, argv: list[str], *, rows: int = 24, cols: int = 120) -> None:
        self.child = pexpect.spawn(argv[0], argv[1:], dimensions=(rows, cols), timeout=60)
        self.screen = pyte.Screen(cols, rows)
        self._stream = pyte.ByteStream(self.screen)
        self.received = b""
        self.final_modes: list[Any] = []

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    def reversed_text(self) -> str:
        """The text shown in reverse video (the picked row)."""
        return "".join(
            self.screen.buffer[y][x].data
            for y in range(self.screen.lines)
            for x in range(self.screen.columns)
            if self.screen.buffer[y][x].reverse
        ).strip()

    def wait_for(self, shown: Callable[[Terminal], bool], *, within_s: float = 60.0) -> None:
        """Read what the command writes until `shown(self)` holds (AssertionError after
        `within_s`, with the screen)."""
        end = time.monotonic() + within_s
        while not shown(self):
            if time.monotonic() > end:
                raise AssertionError("never shown; the screen:\n" + "\n".join(self.lines()))
            self.pump(0.1)

    def pump(self, seconds: float) -> None:
        try:
            data = self.child.read_nonblocking(65536, timeout=seconds)
        except pexpect.TIMEOUT:
            return
        except pexpect.EOF:
            if not self.child.isalive():
                return
            raise
        self.received += data
        self._stream.feed(data)

    def wait_exit(self) -> int | None:
        """Read to the end (60 s at most); the exit status (None if a signal ended it)."""
        rest = self.child.read()
        self.received += rest
        self._stream.feed(rest)
        # The pty's modes as the command left them (the master reports the pair's).
        self.final_modes = termios.tcgetattr(self.child.child_fd)
        self.child.close()
        return self.child.exitstatus
