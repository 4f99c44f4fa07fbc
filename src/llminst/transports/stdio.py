"""Serving MCP over stdin/stdout with trio-native streams.

The SDK's default stdio transport reads stdin in a worker thread that trio cannot abandon, so a
signal would leave the server hanging until the client closes stdin. Here fds 0 and 1 are read
and written with `trio.lowlevel.FdStream` on private duplicates, while fd 0 is pointed at
/dev/null and fd 1 at stderr so a stray print (ours or a library's) never corrupts the protocol.
The lines themselves go through `wire`, which answers every line that is not a message; they
are read and written in the tasks that ask for and send messages (`_LineWriter` keeps the lines
whole and in order), with no task of their own. The SDK's dispatcher reads that stream itself
(`_serve_connection`): the SDK's `Server.run` would relay every message through a task and a
memory channel of its own first, three more task steps per message.

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
from mcp.server import runner as sdk_runner
from mcp.server.lowlevel import Server
from mcp.server.models import InitializationOptions
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCRequest

from ..logs import get_logger
from ..wire import MessageLines, MessageWriter, open_message_streams

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
async def _trio_stdio(
    on_broken: Callable[[], None],
) -> AsyncIterator[tuple[MessageLines, MessageWriter]]:
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
            await _serve_connection(lowlevel, read, write, lowlevel.create_initialization_options())


# The SDK's per-era serving loops; `Server.run` reaches them through a relay task.
_SDK_ERA_LOOPS = ("_has_modern_envelope", "_serve_modern_stream", "_serve_legacy_stream")
_LEAD_LIMIT = 8  # as the SDK: frames kept from before the first request
Frame = SessionMessage | Exception  # what the SDK's read streams carry


def relay_free() -> bool:
    """Whether the installed SDK has the serving loops `_serve_connection` drives directly."""
    return all(callable(getattr(sdk_runner, name, None)) for name in _SDK_ERA_LOOPS)


async def _serve_connection(
    lowlevel: Server[Any],
    read: MessageLines,
    write: MessageWriter,
    init_options: InitializationOptions,
) -> None:
    """`Server.run` (lifespan, then the era the client's first request opens), with the SDK's
    loop reading `read` itself: the first request and what came before it are replayed from a
    list, not relayed through a task. An SDK without those loops gets `Server.run`."""
    if not relay_free():
        await lowlevel.run(read, write, init_options)
        return
    async with lowlevel.lifespan(lowlevel) as state:
        try:
            opening, lead = await _read_opening(read)
            replayed = _Replayed(lead, read)
            if _opens_modern(opening):
                await sdk_runner._serve_modern_stream(
                    lowlevel, replayed, write, lifespan_state=state, raise_exceptions=False
                )
            else:
                await sdk_runner._serve_legacy_stream(
                    lowlevel,
                    replayed,
                    write,
                    lifespan_state=state,
                    session_id=None,
                    init_options=init_options,
                    raise_exceptions=False,
                )
        finally:
            await read.aclose()
            await write.aclose()


async def _read_opening(read: MessageLines) -> tuple[JSONRPCRequest | None, list[Frame]]:
    """The client's first request (None if the stream ends first) and the frames up to and
    including it (at most `_LEAD_LIMIT` before it, as the SDK keeps)."""
    lead: list[Frame] = []
    async for item in read:
        if isinstance(item, SessionMessage) and isinstance(item.message, JSONRPCRequest):
            lead.append(item)
            return item.message, lead
        if len(lead) < _LEAD_LIMIT:
            lead.append(item)
    return None, lead


def _opens_modern(opening: JSONRPCRequest | None) -> bool:
    """The SDK's rule: a first request other than ``initialize`` carrying the 2026-07-28
    envelope opens a connection of that era; anything else, a handshake-era one."""
    if opening is None or opening.method == "initialize":
        return False
    return bool(sdk_runner._has_modern_envelope(opening.params))


class _Replayed:
    """A read stream that yields `lead` first, then what `rest` yields."""

    def __init__(self, lead: list[Frame], rest: MessageLines) -> None:
        self._lead = lead
        self._rest = rest

    async def receive(self) -> Frame:
        if self._lead:
            return self._lead.pop(0)
        return await self._rest.receive()

    def __aiter__(self) -> _Replayed:
        return self

    async def __anext__(self) -> Frame:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self._lead.clear()
        await self._rest.aclose()

    async def __aenter__(self) -> _Replayed:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
