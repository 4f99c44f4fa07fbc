"""What every benchmark section shares: the run context, stand-in models, servers and probes.

This module owns the plumbing between the sections and llminst: the `Context` a section gets,
`ModelSpec`s and config files that point llminst at the stand-in, starting `llminst serve` over
stdio and over HTTP (with a bearer token), the raw-baseline call, and process probes (alive,
RSS; read by `procs`). It measures nothing and renders nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio
from attrs import frozen

from llminst import ModelSpec, OutputFormat, Settings, TimeoutCategory

from .procs import is_alive, rss_kb
from .standins import StandIn

__all__ = [
    "HTTP_TOKEN",
    "ROOT",
    "Context",
    "is_alive",
    "model",
    "open_http_server",
    "raw_call",
    "rss_kb",
    "serve_argv",
    "table",
    "write_config",
]

ROOT = Path(__file__).resolve().parent.parent  # the repository: where `benchmarks` imports from
HTTP_TOKEN = "bench-token-5c1e"
BIG_LIMIT = 4096  # concurrent calls per model: never the bottleneck of a benchmark


@frozen
class Context:
    """What a section needs: the stand-in, a scratch folder, and whether this is a smoke run."""

    standin: StandIn
    workdir: Path
    smoke: bool

    def pick(self, full: Any, smoke: Any) -> Any:
        """A repetition count (or any setting): `full` normally, `smoke` in a smoke run."""
        return smoke if self.smoke else full


def model(name: str, argv: Sequence[str], **fields: Any) -> ModelSpec:
    """A model running the stand-in `argv`; the prompt llminst appends is ignored by it."""
    fields.setdefault("timeout_category", TimeoutCategory.QUICK)
    fields.setdefault("max_concurrency", BIG_LIMIT)
    return ModelSpec(name=name, command=tuple(argv), **fields)


def claude_model(name: str, argv: Sequence[str]) -> ModelSpec:
    return model(name, argv, output_format=OutputFormat.CLAUDE_STREAM_JSON)


def settings(**fields: Any) -> Settings:
    fields.setdefault("default_max_concurrency", BIG_LIMIT)
    return Settings(**fields)


def write_config(path: Path, models: dict[str, Sequence[str]], **settings_: Any) -> Path:
    """A TOML config for `llminst serve`: one model per stand-in argv, limits raised, and calls
    recorded (as by default) in a SQLite store next to the config, never the user's own."""
    lines = ["[settings]", f"default_max_concurrency = {BIG_LIMIT}"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings_.items()]
    lines += ["[store]", f"path = {json.dumps(str(path.parent.resolve() / 'llminst.sqlite3'))}"]
    for name, argv in models.items():
        lines += [
            f"[models.{name}]",
            f"command = {json.dumps(list(argv))}",
            'timeout_category = "quick"',
            f"max_concurrency = {BIG_LIMIT}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def serve_argv(config: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "llminst.cli", "--config", str(config), "serve", *extra]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def open_http_server(config: Path) -> AsyncIterator[str]:
    """`llminst serve --transport http --token ...` on a free port; yields the MCP URL."""
    port = free_port()
    argv = serve_argv(config, "--transport", "http", "--port", str(port), "--token", HTTP_TOKEN)
    proc = await trio.lowlevel.open_process(argv, stdin=subprocess.DEVNULL)
    try:
        with trio.fail_after(30):
            while True:
                try:
                    stream = await trio.open_tcp_stream("127.0.0.1", port)
                    await stream.aclose()
                    break
                except OSError:
                    if proc.poll() is not None:
                        raise RuntimeError("llminst serve --transport http exited early") from None
                    await trio.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        with trio.CancelScope(shield=True):
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                with trio.move_on_after(5):
                    await proc.wait()
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()


async def raw_call(argv: Sequence[str]) -> bytes:
    """The floor: start the stand-in, read stdout to EOF, wait for it (no supervisor)."""
    proc = await trio.lowlevel.open_process(
        list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    chunks = []
    while data := await proc.stdout.receive_some(65536):
        chunks.append(data)
    await proc.wait()
    await proc.stdout.aclose()
    return b"".join(chunks)


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM (Linux: write 5 to clear_refs); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def kill_quietly(pids: Sequence[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """A table a section hands to the report: column names and rows of cells."""
    return {"columns": list(columns), "rows": [list(row) for row in rows]}
