"""A signal to `llminst serve` is a cancellation: every call's whole tree is killed and reaped,
then the server exits with 128 + the signal's number and one short line on stderr.

Over stdio and over HTTP, with a call running whose CLI left grandchildren behind (one in its
process group, one that escaped it with setsid); nothing of the tree may be left, zombies
included. The other commands (`run`, `demo`): tests/command/test_signals.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trio
from mcp import Client

from ..support.paths import LLMINST
from ..support.procs import start_times, stop_server, wait_for_pids
from ..support.serve import handshake
from ..support.signals import (
    SIGNAL_IDS,
    SIGNALS,
    Finished,
    assert_cancelled,
    default_signals,
    kill_leftovers,
    signal_midway,
    write_tree_config,
)


def _raw_calls(model: str, count: int) -> bytes:
    """The handshake, then `count` execute_llm requests, as raw JSON lines."""
    calls = [
        {
            "jsonrpc": "2.0",
            "id": 2 + i,
            "method": "tools/call",
            "params": {"name": "execute_llm", "arguments": {"model": model, "prompt": "x"}},
        }
        for i in range(count)
    ]
    messages: list[dict[str, Any]] = [*handshake(), *calls]
    return b"".join(json.dumps(m).encode() + b"\n" for m in messages)


@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
async def test_stdio_serve_stops_on_a_signal_with_its_status(tmp_path: Path, sig: int) -> None:
    """`llminst serve` over stdio: TERM, HUP and INT stop it with 128 + the signal (it used to
    exit 0, and SIGHUP killed it outright, leaving every running tree behind)."""
    tree = write_tree_config(tmp_path)
    argv = [*LLMINST, "--config", str(tree.config), "serve"]
    done = await signal_midway(argv, tree, sig, processes=4, stdin=_raw_calls("escaper", 2))
    assert_cancelled(done, sig, tree, line="llminst serve: stopped")


@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
async def test_http_serve_stops_on_a_signal_with_its_status(tmp_path: Path, sig: int) -> None:
    """`llminst serve --transport http`: the same, with a call running over HTTP."""
    tree = write_tree_config(tmp_path)
    argv = [*LLMINST, "--config", str(tree.config), "serve", "--transport", "http", "--port", "0"]
    proc = await trio.lowlevel.open_process(
        argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=default_signals
    )
    assert proc.stderr is not None
    try:
        err = await read_until(proc.stderr, b"/mcp")
        url = err.decode().split("listening on ", 1)[1].split()[0]
        assert url.endswith("/mcp"), err
        async with trio.open_nursery() as nursery:

            async def call() -> None:
                try:
                    async with Client(url) as client:
                        await client.call_tool("execute_llm", {"model": "escaper", "prompt": "x"})
                except Exception:
                    pass  # the connection closes under the call

            nursery.start_soon(call)
            started = start_times(await wait_for_pids(tree.pidfile, 2, within_s=60))
            proc.send_signal(sig)
            with trio.fail_after(30):
                await proc.wait()
            nursery.cancel_scope.cancel()
        with trio.fail_after(10):
            while data := await proc.stderr.receive_some(65536):
                err += data
    finally:
        await stop_server(proc)
        kill_leftovers(tree)
    done = Finished(proc.returncode, "", err.decode(), started)
    assert_cancelled(done, sig, tree, line="llminst serve: stopped")


async def read_until(stream: trio.abc.ReceiveStream, needle: bytes) -> bytearray:
    """Read `stream` until `needle` and the end of its line have arrived."""
    seen = bytearray()
    with trio.fail_after(60):
        while needle not in seen or not seen.split(needle, 1)[1].count(b"\n"):
            data = await stream.receive_some(65536)
            assert data, f"the stream ended first: {bytes(seen)!r}"
            seen += data
    return seen
