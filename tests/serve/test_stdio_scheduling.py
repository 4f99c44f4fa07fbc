"""What one request costs the stdio server in trio's scheduler: the read loop and its handler.

Regression (issue 11, MCP stdio overhead): the SDK's `Server.run` relays every message from the
transport through a task and a memory channel of its own before its dispatcher reads it, five
task steps per request where two do (the dispatcher reading the line, the handler answering).
The server here runs in the test's own trio loop over real pipes, with the transport's read and
write streams, in both protocol eras (the ``initialize`` handshake, and 2026-07-28 envelopes on
every request); a trio Instrument counts the task steps each request takes.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing
from mcp_types import CLIENT_CAPABILITIES_META_KEY, PROTOCOL_VERSION_META_KEY

from llminst.server import ServerOptions, create_server
from llminst.transports import stdio
from llminst.wire import open_message_streams

from ..support.models import models_with
from ..support.serve import handshake

REQUESTS = 20
MODERN = {PROTOCOL_VERSION_META_KEY: "2026-07-28", CLIENT_CAPABILITIES_META_KEY: {}}


class _StepCounter(trio.abc.Instrument):
    """Task steps of every task but the test's own."""

    def __init__(self, test_task: trio.lowlevel.Task) -> None:
        self.test_task = test_task
        self.steps: Counter[str] = Counter()

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task is not self.test_task:
            self.steps[task.name.rsplit(".", 1)[-1]] += 1


class _Client:
    """The test's end of the two pipes: whole lines out, answers read by request id."""

    def __init__(self, to_server: int, from_server: int) -> None:
        self.to_server = to_server
        self.from_server = from_server
        self.buffer = b""

    def send(self, message: dict[str, Any]) -> None:
        os.write(self.to_server, json.dumps(message).encode() + b"\n")

    async def answer(self, request_id: int) -> dict[str, Any]:
        with trio.fail_after(30):
            while True:
                while b"\n" in self.buffer:
                    line, self.buffer = self.buffer.split(b"\n", 1)
                    message: dict[str, Any] = json.loads(line)
                    if message.get("id") == request_id:
                        return message
                await trio.lowlevel.wait_readable(self.from_server)
                self.buffer += os.read(self.from_server, 65536)


@asynccontextmanager
async def _served() -> AsyncIterator[_Client]:
    """The MCP server over two real pipes, served as `serve_stdio` serves fds 0 and 1."""
    server = create_server(ServerOptions(models=models_with()))
    lowlevel = server._lowlevel_server
    request_read, request_write = os.pipe()
    answer_read, answer_write = os.pipe()
    os.set_blocking(answer_read, False)
    async with (
        trio.lowlevel.FdStream(request_read) as server_in,
        trio.lowlevel.FdStream(answer_write) as server_out,
        open_message_streams(
            stdio._LineReader(server_in), stdio._LineWriter(server_out, lambda: None)
        ) as (read, write),
        trio.open_nursery() as nursery,
    ):
        init = lowlevel.create_initialization_options()
        nursery.start_soon(stdio._serve_connection, lowlevel, read, write, init)
        try:
            yield _Client(request_write, answer_read)
        finally:
            os.close(request_write)  # the client is done: the server sees its stdin end
            os.close(answer_read)


def _estimate(request_id: int, *, envelope: bool) -> dict[str, Any]:
    params: dict[str, Any] = {
        "name": "estimate_tokens",
        "arguments": {"text": "four words in here"},
    }
    if envelope:
        params["_meta"] = MODERN
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


@pytest.mark.parametrize("era", ["handshake", "modern"])
async def test_a_request_takes_two_task_steps_in_the_server(era: str) -> None:
    """The dispatcher reads each line from the transport itself: one step to read and
    dispatch it, one for the handler that answers (the SDK's relay made it five)."""
    async with _served() as client:
        if era == "handshake":
            for message in handshake():
                client.send(message)
            assert "result" in await client.answer(1)
        envelope = era == "modern"
        client.send(_estimate(2, envelope=envelope))  # the first request opens the era
        assert "result" in await client.answer(2)
        await trio.testing.wait_all_tasks_blocked()
        counter = _StepCounter(trio.lowlevel.current_task())
        trio.lowlevel.add_instrument(counter)
        try:
            for request_id in range(3, 3 + REQUESTS):
                client.send(_estimate(request_id, envelope=envelope))
                answer = await client.answer(request_id)
                assert answer["result"]["structuredContent"]["tokens"] > 0, answer
                await trio.testing.wait_all_tasks_blocked()
        finally:
            trio.lowlevel.remove_instrument(counter)
    steps = sum(counter.steps.values())
    assert steps <= 2 * REQUESTS, f"{steps / REQUESTS:.1f} task steps a request: {counter.steps}"


def test_the_installed_sdk_has_the_loops_the_transport_drives() -> None:
    """The relay-free path depends on the SDK's private per-era loops: an SDK release without
    them falls back to `Server.run` (correct, slower); this says so instead of slowing quietly."""
    assert stdio.relay_free()
