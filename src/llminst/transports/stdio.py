"""Serving MCP over stdin/stdout with trio-native streams.

The SDK's default stdio transport reads stdin in a worker thread that trio cannot abandon, so a
signal would leave the server hanging until the client closes stdin. Here fds 0 and 1 are read
and written with `trio.lowlevel.FdStream` on private duplicates, while fd 0 is pointed at
/dev/null and fd 1 at stderr so a stray print (ours or a library's) never corrupts the protocol.
The lines themselves go through `wire`, which answers every line that is not a message.

This module owns the two file descriptors and the line framing; it must never decode a line
(that is `wire`'s job), write anything but protocol messages to the real stdout, or leave fds 0
and 1 redirected once serving ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import trio
from mcp.server import MCPServer

from ..wire import open_message_streams

__all__ = ["serve_stdio"]


class _LineReader:
    """The async iterator of request lines (bytes, each with its newline) from stdin."""

    def __init__(self, stream: trio.lowlevel.FdStream) -> None:
        self._stream = stream
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
            data = await self._stream.receive_some(65536)
            if not data:
                if self._buffer:
                    line = bytes(self._buffer)
                    self._buffer.clear()
                    self._scanned = 0
                    return line
                raise StopAsyncIteration
            self._buffer += data


@contextlib.asynccontextmanager
async def _trio_stdio() -> AsyncIterator[tuple[Any, Any]]:
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
            open_message_streams(_LineReader(stdin), stdout.send_all) as streams,
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
    """Serve over stdin/stdout until the client closes stdin (or the caller cancels).

    Cancellation: the server's lifespan closes its supervisor, which kills and reaps every
    running call's process tree; fds 0 and 1 are restored, then the cancellation propagates.
    """
    lowlevel = server._lowlevel_server  # no public accessor in mcp 2.3
    async with _trio_stdio() as (read, write):
        await lowlevel.run(read, write, lowlevel.create_initialization_options())
