"""Serving MCP over stdin/stdout with trio-native streams.

The SDK's default stdio transport reads stdin in a worker thread that trio cannot abandon, so a
signal would leave the server hanging until the client closes stdin. Here fds 0 and 1 are read
and written with `trio.lowlevel.FdStream` on private duplicates, while fd 0 is pointed at
/dev/null and fd 1 at stderr so a stray print (ours or a library's) never corrupts the protocol.
The lines themselves go through `wire`, which answers every line that is not a message; they
are read and written in the tasks that ask for and send messages (`_LineWriter` keeps the lines
whole and in order), with no task of their own.

This module owns the two file descriptors and the line framing; it must never decode a line
(that is `wire`'s job), write anything but protocol messages to the real stdout, or leave fds 0
and 1 redirected once serving ends.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import trio
from mcp.server import MCPServer

from ..logs import get_logger
from ..wire import open_message_streams

__all__ = ["serve_stdio"]

_log = get_logger()


class _LineReader:
    """The async iterator of request lines (bytes, each with its newline) from stdin."""

    def __init__(self, stream: trio.lowlevel.FdStream) -> None:
        self._fd = stream.fileno()  # non-blocking: FdStream made it so
        self._buffer = bytearray()
        self._scanned = 0  # bytes known to hold no newline: a huge line stays O(n)

    def __aiter__(self) -> _LineReader:
        return self

    async def __anext__(self) -> bytes:
        # Bytes, not text: decoding is the wire's job, which refuses what is not UTF-8
        # instead of replacing it (a prompt must arrive byte for byte or not at all).
        while True:
            end = self._buffer.find(b"\n", self._scanned)
            if end >= 0:
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                self._scanned = 0
                return line
            self._scanned = len(self._buffer)
            data = await self._receive()
            if not data:
                if self._buffer:
                    line = bytes(self._buffer)
                    self._buffer.clear()
                    self._scanned = 0
                    return line
                raise StopAsyncIteration
            self._buffer += data

    async def _receive(self) -> bytes:
        """The next bytes from stdin: read at once when they are there, else waited for
        (`FdStream.receive_some` would first take a trip through the scheduler)."""
        while True:
            try:
                return os.read(self._fd, 65536)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self._fd)


class _LineWriter:
    """Writes whole lines to stdout from any task, in the order of the calls.

    A line usually goes out in one ``write`` with no trip through the scheduler. When the pipe
    is full the writer waits, holding the others back; if it is cancelled meanwhile, the rest
    of its line stays queued and goes out before the next line, so the client never reads half
    a message followed by another. A client that stopped reading (a broken pipe) calls
    `on_broken`, and the writer gets `anyio.BrokenResourceError`.
    """

    def __init__(self, stream: trio.lowlevel.FdStream, on_broken: Callable[[], None]) -> None:
        self._fd = stream.fileno()  # non-blocking: FdStream made it so
        self._on_broken = on_broken
        self._unsent = bytearray()
        self._writing = trio.StrictFIFOLock()

    async def __call__(self, line: bytes) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            self._writing.acquire_nowait()  # nobody writing: no trip through the scheduler
        except trio.WouldBlock:
            await self._writing.acquire()
        try:
            self._unsent += line
            await self._flush()
        finally:
            self._writing.release()

    async def _flush(self) -> None:
        while self._unsent:
            try:
                written = os.write(self._fd, self._unsent)
            except BlockingIOError:
                await trio.lowlevel.wait_writable(self._fd)
                continue
            except OSError as exc:
                self._unsent.clear()
                if exc.errno in (errno.EPIPE, errno.EBADF):
                    _log.warning("llminst.stdio.client_gone", reason=exc.strerror)
                    self._on_broken()
                # anyio's, not trio's: the SDK drops a message it cannot write on that one.
                raise anyio.BrokenResourceError(f"stdout: {exc.strerror}") from exc
            del self._unsent[:written]


@contextlib.asynccontextmanager
async def _trio_stdio(on_broken: Callable[[], None]) -> AsyncIterator[tuple[Any, Any]]:
    wire_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    wire_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    saved_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    saved_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    try:
        async with (
            trio.lowlevel.FdStream(wire_in) as stdin,
            trio.lowlevel.FdStream(wire_out) as stdout,
            open_message_streams(_LineReader(stdin), _LineWriter(stdout, on_broken)) as streams,
        ):
            yield streams
    finally:
        # Flush stray prints while fd 1 still points at stderr, or they would reach the wire.
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
        os.close(saved_in)
        os.close(saved_out)


async def serve_stdio(server: MCPServer) -> None:
    """Serve over stdin/stdout until the client closes stdin or stops reading stdout (or the
    caller cancels).

    Cancellation: the server's lifespan closes its supervisor, which kills and reaps every
    running call's process tree; fds 0 and 1 are restored, then the cancellation propagates.
    """
    lowlevel = server._lowlevel_server  # no public accessor in mcp 2.3
    with trio.CancelScope() as serving:  # cancelled when nothing can reach the client any more
        async with _trio_stdio(serving.cancel) as (read, write):
            await lowlevel.run(read, write, lowlevel.create_initialization_options())
