"""Moving bytes between llminst and a running CLI: its stdout and stderr read to EOF, its stdin fed.

A `PipeReader` reads straight from the pipe's descriptor and waits only when nothing is there,
so a chunk that is already waiting costs no trip through trio's scheduler; it still checkpoints
every few chunks, so a CLI that floods its pipe cannot starve the other tasks. Once the process
tree is gone, a `Linger` bounds the wait for EOF: a descendant that escaped the group may hold
a pipe open forever.

What it must never do: interpret the bytes (decoders do), or close a pipe it is reading.
"""

from __future__ import annotations

import math
import os
from collections.abc import Awaitable, Callable

import trio

__all__ = ["Linger", "PipeReader", "feed_stdin"]

READ_SIZE = 65536
_CHUNKS_PER_CHECKPOINT = 16  # reads that found data at once before yielding to other tasks


class Linger:
    """How long reading goes on once the process tree is gone.

    A pipe still open then is held by a descendant that escaped the group, maybe forever.
    `start` gives the readers `seconds`: `scope` (around them) is cancelled once that long
    passes with no pipe delivering data. Time a reader spends handing data on does not count:
    a slow consumer of what was read is no reason to drop what is still in the pipe.
    """

    def __init__(self, scope: trio.CancelScope) -> None:
        self._scope = scope
        self._seconds: float | None = None
        self._handing_on = 0

    @property
    def active(self) -> bool:
        return self._seconds is not None

    def start(self, seconds: float) -> None:
        self._seconds = seconds
        self._rearm()

    def hold(self) -> None:
        """A reader starts handing data on: no deadline until it is done (`release`)."""
        self._handing_on += 1
        self._scope.deadline = math.inf

    def release(self) -> None:
        self._handing_on -= 1
        self._rearm()

    def _rearm(self) -> None:
        if self._seconds is not None and not self._handing_on:
            self._scope.deadline = trio.current_time() + self._seconds


class PipeReader:
    """Reads one pipe to EOF, handing each chunk to the callback given to `run`."""

    def __init__(self, stream: trio.abc.ReceiveStream, linger: Linger) -> None:
        self._stream = stream
        self._fd = stream.fileno() if isinstance(stream, trio.lowlevel.FdStream) else None
        self._linger = linger
        self._unyielded = 0
        self.at_eof = False
        """True once it read to EOF (False: it was cancelled, or gave up while lingering)."""

    async def run(self, on_data: Callable[[bytes], Awaitable[None]]) -> None:
        """Read until EOF, awaiting `on_data` for each chunk."""
        linger = self._linger
        while data := await self._read():
            if not linger.active:
                await on_data(data)
                continue
            linger.hold()
            try:
                await on_data(data)
            finally:
                linger.release()
        self.at_eof = True

    async def _read(self) -> bytes:
        if self._fd is None:  # pragma: no cover - POSIX pipes are FdStreams
            return bytes(await self._stream.receive_some(READ_SIZE))
        while True:
            try:
                data = os.read(self._fd, READ_SIZE)
            except BlockingIOError:
                self._unyielded = 0
                await trio.lowlevel.wait_readable(self._fd)
                continue
            self._unyielded += 1
            if self._unyielded >= _CHUNKS_PER_CHECKPOINT:
                self._unyielded = 0
                await trio.lowlevel.checkpoint()
            return data


async def feed_stdin(stdin: trio.abc.SendStream, data: bytes) -> None:
    """Write `data` to the CLI's stdin and close it (the CLI reads its prompt to EOF)."""
    try:
        await stdin.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the CLI exited (or closed stdin) before reading it all; its exit code tells why
    finally:
        if isinstance(stdin, trio.lowlevel.FdStream):
            stdin.close()
        else:  # pragma: no cover - POSIX pipes are FdStreams
            with trio.CancelScope(shield=True):
                await stdin.aclose()
