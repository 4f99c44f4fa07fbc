"""The cc_executor section: llminst next to the real cc_executor, the same command in the same run.

This module owns the side-by-side of five ways to run one command, the stand-in ``claude -p
--dangerously-skip-permissions --output-format stream-json --verbose -- PROMPT``
(`benchmarks.peers.standin_executable`, which answers ``Echo: PROMPT`` at once):

- ``raw``: the floor, trio's `open_process` + read + wait of the command;
- ``llminst API``: `Supervisor.run` / `open_stream` with a model whose command is that argv;
- ``llminst MCP stdio``: ``execute_llm`` / ``stream_llm`` on a real `llminst serve` over stdio;
- ``cc_executor-style WebSocket``: the baseline `benchmarks.peers.ws_executor`, the design
  without Redis and hooks;
- ``cc_executor (real)``: grahama1970/cc_executor itself (`benchmarks.peers.cc_executor`), with
  its Redis and its hooks, over the same WebSocket JSON-RPC client.

For each: per-call wall time (sequential calls after warm-up, every answer checked), the first
streamed line (request -> first stdout line at the client; for llminst the first text chunk or
progress notification), 20 concurrent calls of a ``claude-1s`` wrapper that sleeps 1 s before the
stand-in (wall time), and the peak RSS of the server (of the measuring interpreter for the API).
The section is opt-in: without ``--cc-executor PATH`` / ``$LLMINST_CC_EXECUTOR`` it is skipped
with a line saying how to enable it. It never starts a process it does not stop.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import trio

from .common import Context, model, reset_peak_rss, rss_kb, settings, table
from .stats import ratio, summarize

TITLE = "cc_executor (real) vs llminst"
CONCURRENT = 20
SLOW_S = 1.0
WARMUP = 2  # calls before the measured ones, for every way
ONE_SHOT_ARGS = (
    "-p",
    "--dangerously-skip-permissions",
    "--output-format",
    "stream-json",
    "--verbose",
)
Timed = dict[str, Any]


def skipped(reason: str) -> dict[str, Any]:
    """The section's result when the peer is not configured or cannot run here."""
    from benchmarks.peers.cc_executor import ENABLE_HINT

    return {
        "title": TITLE,
        "about": f"skipped: {reason}; to enable it, {ENABLE_HINT}.",
        "tables": [],
        "data": {"available": False, "reason": reason},
    }


def _expected(prompt: str) -> str:
    return f"Echo: {prompt}"


def _check(prompt: str, answer: str | None) -> None:
    if answer != _expected(prompt):
        raise RuntimeError(f"expected {_expected(prompt)!r}, got {answer!r}")


def _commands(folder: Path) -> tuple[list[str], list[str]]:
    """The stand-in claude's one-shot argv (without the prompt) and its 1-s wrapper's."""
    from benchmarks.peers import standin_executable

    claude = standin_executable(folder)
    slow = folder / "claude-1s"
    slow.write_text(f'#!/bin/sh\nsleep {SLOW_S}\nexec {shlex.quote(str(claude))} "$@"\n')
    slow.chmod(0o755)
    return [str(claude), *ONE_SHOT_ARGS], [str(slow), *ONE_SHOT_ARGS]


def _argv(command: Sequence[str], prompt: str) -> list[str]:
    return [*command, "--", prompt]


def _figures(
    per_call: list[float], first: list[float], walls: list[float], rss_mb: float | None, note: str
) -> Timed:
    return {
        "per_call_ms": per_call,
        "first_line_ms": first,
        "concurrent_wall_s": walls,
        "rss_mb": rss_mb,
        "notes": note,
    }


# --- raw and llminst (trio) -----------------------------------------------------------------


async def _raw_call(argv: list[str]) -> tuple[float, float, str | None]:
    """(total ms, first line ms, result text) of one start + read + wait of `argv`."""
    from benchmarks.peers.ws_executor import claude_result_text

    started = time.perf_counter()
    proc = await trio.lowlevel.open_process(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    first: float | None = None
    chunks = []
    while data := await proc.stdout.receive_some(65536):
        if first is None and b"\n" in data:
            first = time.perf_counter()
        chunks.append(data)
    await proc.wait()
    await proc.stdout.aclose()
    done = time.perf_counter()
    text = claude_result_text(b"".join(chunks).decode().splitlines())
    return (done - started) * 1000, ((first or done) - started) * 1000, text


async def _concurrently(call: Callable[[str], Awaitable[None]], rounds: int) -> list[float]:
    """Wall seconds of `CONCURRENT` calls at once, `rounds` times."""
    walls = []
    for r in range(rounds):
        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for i in range(CONCURRENT):
                nursery.start_soon(call, f"concurrent {r}.{i}")
        walls.append(time.perf_counter() - started)
    return walls


async def _measure_raw(fast: list[str], slow: list[str], calls: int, rounds: int) -> Timed:
    per_call, first = [], []
    for i in range(WARMUP + calls):
        prompt = f"raw call {i}"
        total, first_ms, text = await _raw_call(_argv(fast, prompt))
        _check(prompt, text)
        if i >= WARMUP:
            per_call.append(total)
            first.append(first_ms)

    async def slow_call(prompt: str) -> None:
        _check(prompt, (await _raw_call(_argv(slow, prompt)))[2])

    walls = await _concurrently(slow_call, rounds)
    return _figures(per_call, first, walls, None, "trio open_process + read + wait, no server")


async def _measure_api(fast: list[str], slow: list[str], calls: int, rounds: int) -> Timed:
    from llminst import OutputFormat, open_supervisor

    specs = {
        name: model(
            name, argv, prompt_separator="--", output_format=OutputFormat.CLAUDE_STREAM_JSON
        )
        for name, argv in (("fast", fast), ("slow", slow))
    }
    reset_peak_rss()
    async with open_supervisor(models=specs, settings=settings()) as supervisor:

        async def run(name: str, prompt: str) -> float:
            started = time.perf_counter()
            result = await supervisor.run(name, prompt)
            _check(prompt, result.output if result.success else f"error: {result.error}")
            return (time.perf_counter() - started) * 1000

        async def first_chunk(prompt: str) -> float:
            started = time.perf_counter()
            async with supervisor.open_stream("fast", prompt) as stream:
                async for _chunk in stream:
                    return (time.perf_counter() - started) * 1000
            raise RuntimeError("the stream ended without a chunk")

        for i in range(WARMUP):
            await run("fast", f"warm-up {i}")
        per_call = [await run("fast", f"api call {i}") for i in range(calls)]
        first = [await first_chunk(f"api stream {i}") for i in range(calls)]

        async def slow_call(prompt: str) -> None:
            await run("slow", prompt)

        walls = await _concurrently(slow_call, rounds)
    rss = rss_kb("self", "VmHWM") / 1024
    note = "Supervisor.run per call, open_stream's first chunk; RSS: the measuring interpreter"
    return _figures(per_call, first, walls, rss, note)


def _mcp_config(folder: Path, fast: list[str], slow: list[str]) -> Path:
    lines = ["[settings]", "default_max_concurrency = 4096", "[store]"]
    lines.append(f"path = {json.dumps(str(folder / 'llminst.sqlite3'))}")
    for name, argv in (("fast", fast), ("slow", slow)):
        lines += [f"[models.{name}]", f"command = {json.dumps(argv)}", 'prompt_separator = "--"']
        lines += ['output_format = "claude-stream-json"', "max_concurrency = 4096"]
    config = folder / "executors.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


async def _measure_mcp(
    folder: Path, fast: list[str], slow: list[str], calls: int, rounds: int
) -> Timed:
    from mcp import Client, StdioServerParameters

    from .procs import child_with

    config = _mcp_config(folder, fast, slow)
    argv = ["-m", "llminst.cli", "--config", str(config), "serve"]
    async with Client(StdioServerParameters(command=sys.executable, args=argv)) as client:

        async def call(name: str, prompt: str) -> float:
            started = time.perf_counter()
            result = await client.call_tool("execute_llm", {"model": name, "prompt": prompt})
            text = "".join(c.text for c in result.content if c.type == "text")
            _check(prompt, f"error: {text}" if result.is_error else text)
            return (time.perf_counter() - started) * 1000

        async def first_progress(prompt: str) -> float:
            got: list[float] = []

            async def on_progress(_p: float, _t: float | None, _m: str | None) -> None:
                got.append(time.perf_counter())

            started = time.perf_counter()
            args = {"model": "fast", "prompt": prompt}
            await client.call_tool("stream_llm", args, progress_callback=on_progress)
            if not got:
                raise RuntimeError("stream_llm sent no progress notification")
            return (got[0] - started) * 1000

        for i in range(WARMUP):
            await call("fast", f"warm-up {i}")
        per_call = [await call("fast", f"mcp call {i}") for i in range(calls)]
        first = [await first_progress(f"mcp stream {i}") for i in range(calls)]

        async def slow_call(prompt: str) -> None:
            await call("slow", prompt)

        walls = await _concurrently(slow_call, rounds)
        server = child_with("llminst.cli")
        rss = rss_kb(server, "VmHWM") / 1024
    note = "execute_llm per call, stream_llm's first progress notification; RSS: llminst serve"
    return _figures(per_call, first, walls, rss, note)


# --- the WebSocket peers (asyncio) ----------------------------------------------------------


async def _ws_figures(
    url: str, fast: list[str], slow: list[str], calls: int, rounds: int
) -> tuple[list[float], list[float], list[float]]:
    """Per-call ms and first-line ms over one kept connection; walls of 20 connections at once."""
    from benchmarks.peers.ws_executor import ExecutorClient, claude_result_text

    async def execute(client: ExecutorClient, argv: list[str], prompt: str) -> float | None:
        execution = await client.execute(shlex.join(_argv(argv, prompt)))
        _check(prompt, claude_result_text(execution.stdout))
        return execution.first_stdout_at

    per_call, first = [], []
    async with ExecutorClient.connect(url) as client:
        for i in range(WARMUP + calls):
            started = time.perf_counter()
            first_at = await execute(client, fast, f"ws call {i}")
            done = time.perf_counter()
            if i >= WARMUP:
                per_call.append((done - started) * 1000)
                first.append(((first_at or done) - started) * 1000)

    async def one(prompt: str) -> None:
        async with ExecutorClient.connect(url) as client:
            await execute(client, slow, prompt)

    walls = []
    for r in range(rounds):
        started = time.perf_counter()
        await asyncio.gather(*(one(f"concurrent {r}.{i}") for i in range(CONCURRENT)))
        walls.append(time.perf_counter() - started)
    return per_call, first, walls


def _measure_baseline(fast: list[str], slow: list[str], calls: int, rounds: int) -> Timed:
    from benchmarks.peers.run_one import _start_server, _stop_server, _vm_hwm_mb

    server, url = _start_server()
    try:
        per_call, first, walls = asyncio.run(_ws_figures(url, fast, slow, calls, rounds))
        rss = _vm_hwm_mb(server.pid)
    finally:
        _stop_server(server)
    note = "benchmarks/peers/ws_executor.py: the design without Redis and hooks; RSS: its server"
    return _figures(per_call, first, walls, rss, note)


def _measure_real(
    path: str, workdir: Path, fast: list[str], slow: list[str], calls: int, rounds: int
) -> Timed:
    from benchmarks.peers.cc_executor import open_cc_executor
    from benchmarks.peers.run_one import _vm_hwm_mb

    with open_cc_executor(path, workdir) as peer:
        per_call, first, walls = asyncio.run(_ws_figures(peer.url, fast, slow, calls, rounds))
        rss = _vm_hwm_mb(peer.server_pid)
        redis_mb = _vm_hwm_mb(peer.redis_pid)
    if peer.leftovers:
        raise RuntimeError(f"cc_executor left processes {peer.leftovers} (killed)")
    note = (
        f"grahama1970/cc_executor from {peer.tree.name} (uvicorn, its hooks, Redis 127.0.0.1:6379); "
        f"cold start {peer.cold_start_s:.2f} s; RSS: its server (Redis: {redis_mb or 0:.1f} MB more)"
    )
    return _figures(per_call, first, walls, rss, note)


# --- the section ----------------------------------------------------------------------------


def measure(ctx: Context, path: str) -> dict[str, Timed]:
    """Every way's figures, in the order of the table; raises if any answer is wrong."""
    folder = ctx.workdir / "executors"
    folder.mkdir(exist_ok=True)
    fast, slow = _commands(folder)
    calls, rounds = ctx.pick(30, 3), ctx.pick(3, 1)
    return {
        "raw": trio.run(_measure_raw, fast, slow, calls, rounds),
        "llminst API": trio.run(_measure_api, fast, slow, calls, rounds),
        "llminst MCP stdio": trio.run(_measure_mcp, folder, fast, slow, calls, rounds),
        "cc_executor-style WebSocket": _measure_baseline(fast, slow, calls, rounds),
        "cc_executor (real)": _measure_real(path, ctx.workdir, fast, slow, calls, rounds),
    }


def run(ctx: Context, *, peer: str | None) -> dict[str, Any]:
    """Synchronous (trio for llminst, asyncio for the WebSocket clients); skipped without a peer."""
    from benchmarks.peers.cc_executor import ENV_VAR, Unavailable

    if not peer:
        return skipped(f"no cc_executor configured (--cc-executor PATH or ${ENV_VAR})")
    try:
        ways = measure(ctx, peer)
    except Unavailable as exc:
        return skipped(f"cc_executor cannot run here: {exc}")
    except Exception:
        traceback.print_exc()
        raise
    return _report(ways, ctx.pick(30, 3))


def _report(ways: dict[str, Timed], calls: int) -> dict[str, Any]:
    stats = {}
    for name, way in ways.items():
        stats[name] = {
            "per_call_ms": summarize(way["per_call_ms"]),
            "first_line_ms": summarize(way["first_line_ms"]),
            "concurrent_wall_s": summarize(way["concurrent_wall_s"]),
            "rss_mb": way["rss_mb"],
            "notes": way["notes"],
        }
    api = stats["llminst API"]["per_call_ms"]["median"]
    rows = [
        [
            name,
            s["per_call_ms"]["median"],
            s["per_call_ms"]["p95"],
            s["first_line_ms"]["median"],
            s["concurrent_wall_s"]["median"],
            s["rss_mb"],
            ratio(s["per_call_ms"]["median"], api),
            s["notes"],
        ]
        for name, s in stats.items()
    ]
    return {
        "title": TITLE,
        "about": (
            f"The same command for every way: the stand-in `claude -p ... --output-format "
            f"stream-json --verbose -- PROMPT`; {calls} sequential calls each after warm-up "
            f"(every answer checked), the first streamed line at the client, and {CONCURRENT} "
            f"concurrent calls of a wrapper that sleeps {SLOW_S:.0f} s first (wall time). The "
            "real cc_executor includes its hooks and Redis; the cc_executor-style baseline is "
            "its design without them."
        ),
        "tables": [
            table(
                [
                    "way",
                    "per call p50 ms",
                    "p95 ms",
                    "first line p50 ms",
                    f"{CONCURRENT} x {SLOW_S:.0f} s wall s",
                    "server RSS MB",
                    "x llminst API",
                    "notes",
                ],
                rows,
            )
        ],
        "data": {"available": True, "calls": calls, "ways": stats},
    }
