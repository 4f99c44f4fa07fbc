"""A real `llminst serve` for tests: its command line, over HTTP, and over raw stdio.

- `serve_argv` / `free_port` / `TOKEN` / `authorized`: the command and an HTTP client with the
  bearer token.
- `tree_config`: a config with a `tree` model (the helper CLI hanging with a grandchild, its
  PIDs recorded), a `gated` one (output the test releases) and a 1-s grace period.
- `http_server`: ``llminst serve --transport http`` on a free port, stopped at the end.
- `raw_stdio_server` / `send_lines` / `read_until_result`: the server over stdio, spoken to in
  raw JSON lines (what the SDK client would hide: progress counters, bytes on the wire).
- `running_stdio_server` / `attached`: the same server started outside trio, for a
  module-scoped fixture (pytest-trio's fixtures are per test), and its pipes in one test's run.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx2
import trio

from .config import write_config
from .paths import FAKECLI
from .procs import stop_server

TOKEN = "test-token-3f9a"


def serve_argv(config: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "llminst.cli", "--config", str(config), "serve", *extra]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def authorized(token: str = TOKEN) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30, read=300)
    )


def tree_config(tmp_path: Path) -> tuple[Path, Path]:
    """A config with a `tree` model (hangs with a grandchild) that records its PIDs, and a
    `gated` one (prints "before", then "after" and exits once the file ``gate`` exists)."""
    pidfile = tmp_path / "pids"
    tree = {
        "command": [sys.executable, FAKECLI, "hang-tree"],
        "env": {"FAKECLI_PIDFILE": str(pidfile)},
    }
    gated = {
        "command": [sys.executable, FAKECLI, "gated", str(tmp_path / "gate"), "exit"],
        "timeout_category": "extended",
    }
    config = write_config(
        tmp_path / "llminst.toml",
        models={"tree": tree, "gated": gated},
        settings={"grace_period_s": 1.0},
    )
    return config, pidfile


@asynccontextmanager
async def http_server(
    tmp_path: Path, *extra: str, config: Path | None = None
) -> AsyncIterator[tuple[str, trio.Process]]:
    """`llminst serve --transport http` over `config` (default: `tree_config`); yields its MCP
    URL and process."""
    if config is None:
        config, _ = tree_config(tmp_path)
    port = free_port()
    argv = serve_argv(config, "--transport", "http", "--port", str(port), *extra)
    proc = await trio.lowlevel.open_process(argv, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        with trio.fail_after(20):
            while True:
                try:
                    stream = await trio.open_tcp_stream("127.0.0.1", port)
                    await stream.aclose()
                    break
                except OSError:
                    assert proc.poll() is None, "the server exited early"
                    await trio.sleep(0.05)
        yield url, proc
    finally:
        await stop_server(proc)


@asynccontextmanager
async def raw_stdio_server(config: Path, *, stderr: Any = None) -> AsyncIterator[trio.Process]:
    """A real `llminst serve` over stdio, spoken to in raw JSON lines, initialized (request id 1).

    Leaving closes its stdin, as a client that is done would, gives it 10 s to exit, then kills it.
    `stderr` is where its stderr goes (default: inherited).
    """
    proc = await trio.lowlevel.open_process(
        serve_argv(config), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        await send_lines(proc, *handshake())
        await read_until_result(proc.stdout, 1)
        yield proc
    finally:
        with trio.CancelScope(shield=True):
            await proc.stdin.aclose()
            with trio.move_on_after(10):
                await proc.wait()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await proc.stdout.aclose()


_HANDSHAKE_TIMEOUT_S = 60.0  # a loaded 2-core machine takes seconds to import the SDK


@contextmanager
def running_stdio_server(config: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`raw_stdio_server` for code outside trio (a module-scoped fixture): the server started
    and initialized (request id 1); at the end its stdin is closed, as a client that is done
    would, it gets 10 s to exit, then it is killed."""
    proc = subprocess.Popen(
        serve_argv(config), stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"".join(json.dumps(m).encode() + b"\n" for m in handshake()))
        _read_handshake_answer(proc.stdout.fileno())
        yield proc
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def _read_handshake_answer(stdout: int) -> None:
    """Read the server's stdout up to the end of its answer to `initialize`, and no further
    (nothing else comes before the next request)."""
    deadline = time.monotonic() + _HANDSHAKE_TIMEOUT_S
    line = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ)
        while not line.endswith(b"\n") or json.loads(line).get("id") != 1:
            if line.endswith(b"\n"):
                line = b""  # a line before the answer
            left = deadline - time.monotonic()
            assert left > 0 and selector.select(left), "the server did not answer initialize"
            byte = os.read(stdout, 1)  # one byte at a time: nothing past the answer is taken
            assert byte, "the server closed stdout before answering initialize"
            line += byte


@attrs.frozen
class StdioPipes:
    """A `running_stdio_server`'s pipes in one trio run (duplicated descriptors), and its PID;
    `send_lines` and `read_until_result` take it as they take a `trio.Process` and its stdout."""

    pid: int
    stdin: trio.lowlevel.FdStream
    stdout: trio.lowlevel.FdStream


@asynccontextmanager
async def attached(proc: subprocess.Popen[bytes]) -> AsyncIterator[StdioPipes]:
    """`proc`'s stdin and stdout as trio streams for this test; closed (the server's own pipes
    stay open) at the end."""
    assert proc.stdin is not None and proc.stdout is not None
    stdin = trio.lowlevel.FdStream(os.dup(proc.stdin.fileno()))
    stdout = trio.lowlevel.FdStream(os.dup(proc.stdout.fileno()))
    try:
        yield StdioPipes(proc.pid, stdin, stdout)
    finally:
        await stdin.aclose()
        await stdout.aclose()


async def send_lines(proc: trio.Process | StdioPipes, *messages: dict[str, Any]) -> None:
    assert proc.stdin is not None
    for message in messages:
        await proc.stdin.send_all((json.dumps(message) + "\n").encode())


def handshake() -> list[dict[str, Any]]:
    """The `initialize` request (id 1) and the `initialized` notification."""
    return [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
    ]


def result_text(result: dict[str, Any]) -> str:
    """The text content of a tool result as it came over the wire (a JSON object)."""
    return "".join(c["text"] for c in result["content"] if c["type"] == "text")


async def read_until_result(
    stdout: trio.abc.ReceiveStream, request_id: int
) -> tuple[list[tuple[int, str | None]], dict[str, Any]]:
    """Read lines until the answer to `request_id`: the progress (counter, message) seen on the
    way, and the answer's result."""
    buffer = b""
    progress: list[tuple[int, str | None]] = []
    with trio.fail_after(30):
        while True:
            data = await stdout.receive_some(65536)
            assert data, "the server closed stdout before answering"
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                message = json.loads(line)
                if message.get("method") == "notifications/progress":
                    params = message["params"]
                    progress.append((params["progress"], params.get("message")))
                elif message.get("id") == request_id:
                    return progress, message["result"]
