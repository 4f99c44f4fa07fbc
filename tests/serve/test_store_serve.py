"""`llminst serve` and its call store: a server SIGKILLed mid-call leaves the call `interrupted`
with its partial output once a server starts again, and a store that fails mid-serve never costs
a call its answer.

Real `llminst serve` processes over stdio, driven by the MCP SDK client; real SQLite files.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
from pathlib import Path

import trio
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from llminst._core.records import CallOrigin, CallState
from llminst.store import SQLiteStore

from ..support.mcp_pipes import process_transport
from ..support.paths import LLMINST
from ..support.procs import descendants, is_alive

SLOW_STREAM = "[[echo:delay=0.2]] " + " ".join(f"w{i}" for i in range(600))


async def _running_call_with_output(store_file: Path) -> str:
    """The id of the running call once some of its output is stored (polled)."""
    while True:
        if await trio.Path(store_file).exists():
            store = await SQLiteStore.open(store_file)
            try:
                running = await store.list_calls(states=[CallState.RUNNING])
            finally:
                await store.aclose()
            if running and running[0].output_chars >= 6:
                return running[0].call_id
        await trio.sleep(0.1)


async def test_a_server_killed_mid_call_leaves_it_interrupted_with_its_output(
    tmp_path: Path,
) -> None:
    store_file = tmp_path / "calls.sqlite3"
    argv = [*LLMINST, "serve", "--store", str(store_file)]
    server = await trio.lowlevel.open_process(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    below: list[int] = []
    try:
        async with trio.open_nursery() as nursery:

            async def call() -> None:
                try:
                    async with Client(process_transport(server)) as client:
                        await client.call_tool(
                            "stream_llm",
                            {"model": "echo", "prompt": SLOW_STREAM},
                            progress_callback=_ignore,
                        )
                except BaseException:  # the server dies under the call (closed, cancelled)
                    return

            nursery.start_soon(call)
            with trio.fail_after(120):
                call_id = await _running_call_with_output(store_file)
            below = [pid for pid, _ in descendants(server.pid)]
            server.kill()  # SIGKILL: no cleanup, no final write
            await server.wait()
            nursery.cancel_scope.cancel()
    finally:
        for pid in below:  # the orphaned echo CLI
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert server.returncode == -signal.SIGKILL

    store = await SQLiteStore.open(store_file)  # not a start: the record is as the kill left it
    try:
        assert (await store.get_call(call_id)).state is CallState.RUNNING  # type: ignore[union-attr]
    finally:
        await store.aclose()

    params = StdioServerParameters(command=argv[0], args=argv[1:])
    async with Client(params) as client:  # a new server: its start marks the orphan
        answer = await client.call_tool("execute_llm", {"model": "echo", "prompt": "after"})
        assert not answer.is_error

    store = await SQLiteStore.open(store_file)
    try:
        record = await store.get_call(call_id)
        output = await store.read_output(call_id)
        (after,) = [r for r in await store.list_calls() if r.call_id != call_id]
    finally:
        await store.aclose()
    assert record is not None and record.state is CallState.INTERRUPTED
    assert record.origin is CallOrigin.MCP and record.finished_at is not None
    assert output.startswith("w0 w1") and len(output) == record.output_chars
    assert SLOW_STREAM.split("]] ")[1].startswith(output)
    assert after.state is CallState.SUCCEEDED and after.prompt == "after"
    with trio.fail_after(30):
        while any(is_alive(pid) for pid in below):  # noqa: ASYNC110 - /proc has no event
            await trio.sleep(0.05)


async def _ignore(_progress: float, _total: float | None, _message: str | None) -> None:
    return None


def _limit_file_size(limit: int) -> None:
    """In the server's child process: files it writes may not grow past `limit` bytes (as a
    full disk would stop them). Python ignores SIGXFSZ, so a write past it fails with EFBIG."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


async def test_a_store_that_fails_mid_serve_costs_no_answer(tmp_path: Path) -> None:
    """The store's files cannot grow past 128 KiB (RLIMIT_FSIZE on the server): its writes
    start failing after a few calls; every call still answers and the failure is logged.
    (The limit leaves room for the new file's schema, ~70 KiB of WAL: 64 KiB stopped fitting
    it when the cancel_requests table came.)"""
    store_file = tmp_path / "calls.sqlite3"
    argv = [*LLMINST, "--log-format", "json", "serve", "--store", str(store_file)]
    stderr_log = tmp_path / "serve.stderr"
    with stderr_log.open("wb") as stderr:
        server = await trio.lowlevel.open_process(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            preexec_fn=lambda: _limit_file_size(128 * 1024),
        )
    try:
        async with Client(process_transport(server)) as client:
            for i in range(40):
                prompt = f"call {i} " + "ü🎉" * 2000  # ~4k characters: the WAL grows fast
                result = await client.call_tool("execute_llm", {"model": "echo", "prompt": prompt})
                assert not result.is_error and result.content[0].text == prompt  # type: ignore[union-attr]
    finally:
        server.terminate()
        with trio.fail_after(30):
            await server.wait()
    events = [
        json.loads(line)
        for line in (await trio.Path(stderr_log).read_text()).splitlines()
        if line.startswith("{")
    ]
    failures = [e for e in events if e.get("event") == "llminst.store.write_failed"]
    assert failures, "the store never failed: the limit did not bite"
    assert all("OperationalError" in e["error"] for e in failures), failures[0]
