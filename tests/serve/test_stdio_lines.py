"""stdio's lines are written in the tasks that send them (no writer task): whole, in order, and a
client that stops reading ends the server quietly.

The writer on a real pipe: lines from many tasks at once arrive whole and in the order of the
calls, also when the pipe is full and a writer is cancelled halfway through its line. Then a
real `llminst serve` whose client closed its end of stdout exits by itself, without a traceback.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import trio
import trio.testing

from llminst.transports.stdio import _LineWriter

from ..support.serve import raw_stdio_server, tree_config
from ..support.wire import call_line

BIG = 1 << 20  # far more than a pipe holds (64 KiB on Linux)


@asynccontextmanager
async def _pipe() -> AsyncIterator[tuple[trio.lowlevel.FdStream, trio.lowlevel.FdStream]]:
    read_fd, write_fd = os.pipe()
    async with (
        trio.lowlevel.FdStream(read_fd) as reader,
        trio.lowlevel.FdStream(write_fd) as writer,
    ):
        yield reader, writer


async def _read_lines(reader: trio.lowlevel.FdStream, count: int) -> list[bytes]:
    data = b""
    with trio.fail_after(60):
        while data.count(b"\n") < count:
            chunk = await reader.receive_some(65536)
            assert chunk, f"the pipe ended after {len(data.splitlines())} lines"
            data += chunk
    return data.splitlines(keepends=True)


def _line(tag: int, size: int) -> bytes:
    return f"{tag}:".encode() + b"x" * size + b"\n"


async def test_lines_from_many_tasks_arrive_whole_and_in_call_order() -> None:
    """Six tasks each write a line bigger than the pipe holds while nobody reads; read later,
    the lines are whole and in the order the tasks called the writer."""
    broken: list[bool] = []
    async with _pipe() as (reader, writer_end):
        write = _LineWriter(writer_end, lambda: broken.append(True))
        lines = [_line(tag, BIG // (tag + 1)) for tag in range(6)]
        async with trio.open_nursery() as nursery:
            for line in lines:
                nursery.start_soon(write, line)
                await trio.testing.wait_all_tasks_blocked()  # each queued behind the previous
            assert await _read_lines(reader, len(lines)) == lines
    assert not broken


async def test_a_writer_cancelled_midway_leaves_no_half_line() -> None:
    """A writer cancelled while the full pipe holds it back: the rest of its line goes out
    before the next line, so the reader never sees half a message followed by another."""
    async with _pipe() as (reader, writer_end):
        write = _LineWriter(writer_end, lambda: None)
        big, small = _line(1, BIG), _line(2, 10)
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(write, big)
                await trio.testing.wait_all_tasks_blocked()  # blocked on the full pipe
                scope.cancel()
        assert scope.cancelled_caught
        async with trio.open_nursery() as nursery:
            nursery.start_soon(write, small)
            assert await _read_lines(reader, 2) == [big, small]


async def test_a_closed_pipe_is_a_broken_resource_and_reported() -> None:
    """Writing to a pipe nobody can read raises anyio.BrokenResourceError (the one the SDK
    expects of a write stream) and calls on_broken."""
    broken: list[bool] = []
    async with _pipe() as (reader, writer_end):
        await reader.aclose()
        write = _LineWriter(writer_end, lambda: broken.append(True))
        try:
            await write(b"{}\n")
        except anyio.BrokenResourceError:
            pass
        else:  # pragma: no cover - the assertion below says what went wrong
            raise AssertionError("the write to a closed pipe succeeded")
    assert broken == [True]


async def test_serve_whose_client_stops_reading_exits_quietly(tmp_path: Path) -> None:
    """The client closes its end of the server's stdout (stdin stays open) and sends a call:
    the answer cannot be written, so the server exits by itself with status 0, logging
    llminst.stdio.client_gone and no traceback."""
    config, _ = tree_config(tmp_path)
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as stderr:
        async with raw_stdio_server(config, stderr=stderr) as proc:
            assert proc.stdin is not None and proc.stdout is not None
            await proc.stdout.aclose()
            await proc.stdin.send_all(call_line(2, "nobody reads this"))
            with trio.fail_after(60):
                await proc.wait()
            assert proc.returncode == 0
    logged = stderr_path.read_text()
    assert "llminst.stdio.client_gone" in logged, logged
    assert "Traceback" not in logged, logged
