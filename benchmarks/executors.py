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
stand-in (wall time), and the peak RSS of the server (for the API: of the measuring interpreter,
read after an API-only phase, before the other clients are imported). The ways take turns, call
by call and burst by burst, so load on a shared machine falls on all of them alike: the
WebSocket clients (asyncio) run on an event loop in a thread that the trio side waits on.
The section is opt-in: without ``--cc-executor PATH`` / ``$LLMINST_CC_EXECUTOR`` it is skipped
with a line saying how to enable it. It never starts a process it does not stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import trio

from .common import Context, model, reset_peak_rss, rss_kb, settings, table
from .stats import ratio, summarize

TITLE = "cc_executor (real) vs llminst"
CONCURRENT = 20
SLOW_S = 1.0
WARMUP = 2  # calls before the measured ones, for every way
# Sent with each WebSocket execute: the real cc_executor otherwise takes a timeout its Redis
# model estimated from earlier runs, and after the fast calls it cut a 1-s call of a burst off.
EXECUTE_TIMEOUT_S = 600
ONE_SHOT_ARGS = (
    "-p",
    "--dangerously-skip-permissions",
    "--output-format",
    "stream-json",
    "--verbose",
)
Timed = dict[str, Any]
T = TypeVar("T")


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


@dataclass
class Way:
    """One way to run the command, driven from trio.

    `call` returns (total ms, first-line ms or None when `first` measures it in its own call);
    `burst` runs `CONCURRENT` slow calls at once and returns the wall seconds.
    """

    call: Callable[[str], Awaitable[tuple[float, float | None]]]
    burst: Callable[[str], Awaitable[float]]
    first: Callable[[str], Awaitable[float]] | None = None
    rss_mb: Callable[[], float | None] = lambda: None
    note: str = ""


def _ms(started: float, ended: float) -> float:
    return (ended - started) * 1000


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


def _trio_burst(call: Callable[[str], Awaitable[None]]) -> Callable[[str], Awaitable[float]]:
    async def burst(tag: str) -> float:
        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for i in range(CONCURRENT):
                nursery.start_soon(call, f"{tag}.{i}")
        return time.perf_counter() - started

    return burst


def _raw_way(fast: list[str], slow: list[str]) -> Way:
    async def call(prompt: str) -> tuple[float, float | None]:
        total, first, text = await _raw_call(_argv(fast, prompt))
        _check(prompt, text)
        return total, first

    async def slow_call(prompt: str) -> None:
        _check(prompt, (await _raw_call(_argv(slow, prompt)))[2])

    return Way(call, _trio_burst(slow_call), note="trio open_process + read + wait, no server")


def _api_specs(fast: list[str], slow: list[str]) -> dict[str, Any]:
    from llminst import OutputFormat

    return {
        name: model(
            name, argv, prompt_separator="--", output_format=OutputFormat.CLAUDE_STREAM_JSON
        )
        for name, argv in (("fast", fast), ("slow", slow))
    }


async def _api_way(stack: contextlib.AsyncExitStack, fast: list[str], slow: list[str]) -> Way:
    from llminst import open_supervisor

    specs = _api_specs(fast, slow)
    supervisor = await stack.enter_async_context(open_supervisor(models=specs, settings=settings()))

    async def run(name: str, prompt: str) -> float:
        started = time.perf_counter()
        result = await supervisor.run(name, prompt)
        _check(prompt, result.output if result.success else f"error: {result.error}")
        return _ms(started, time.perf_counter())

    async def call(prompt: str) -> tuple[float, float | None]:
        return await run("fast", prompt), None

    async def first_chunk(prompt: str) -> float:
        started = time.perf_counter()
        async with supervisor.open_stream("fast", prompt) as stream:
            async for _chunk in stream:
                return _ms(started, time.perf_counter())
        raise RuntimeError("the stream ended without a chunk")

    async def slow_call(prompt: str) -> None:
        await run("slow", prompt)

    note = "Supervisor.run per call, open_stream's first chunk; RSS: the measuring interpreter"
    return Way(call, _trio_burst(slow_call), first_chunk, note=note)


async def _api_peak_rss_mb(fast: list[str], slow: list[str]) -> float:
    """VmHWM of this interpreter after API calls and a burst, before any other client exists."""
    reset_peak_rss()
    async with contextlib.AsyncExitStack() as stack:
        way = await _api_way(stack, fast, slow)
        for i in range(WARMUP):
            await way.call(f"rss {i}")
        await way.burst("rss burst")
    return rss_kb("self", "VmHWM") / 1024


def _mcp_config(folder: Path, fast: list[str], slow: list[str]) -> Path:
    lines = ["[settings]", "default_max_concurrency = 4096", "[store]"]
    lines.append(f"path = {json.dumps(str(folder / 'llminst.sqlite3'))}")
    for name, argv in (("fast", fast), ("slow", slow)):
        lines += [f"[models.{name}]", f"command = {json.dumps(argv)}", 'prompt_separator = "--"']
        lines += ['output_format = "claude-stream-json"', "max_concurrency = 4096"]
    config = folder / "executors.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


async def _mcp_way(
    stack: contextlib.AsyncExitStack, folder: Path, fast: list[str], slow: list[str]
) -> Way:
    from mcp import Client, StdioServerParameters

    from .procs import child_with

    config = _mcp_config(folder, fast, slow)
    argv = ["-m", "llminst.cli", "--config", str(config), "serve"]
    params = StdioServerParameters(command=sys.executable, args=argv)
    client = await stack.enter_async_context(Client(params))
    server = child_with("llminst.cli")

    async def run(name: str, prompt: str) -> float:
        started = time.perf_counter()
        result = await client.call_tool("execute_llm", {"model": name, "prompt": prompt})
        text = "".join(c.text for c in result.content if c.type == "text")
        _check(prompt, f"error: {text}" if result.is_error else text)
        return _ms(started, time.perf_counter())

    async def call(prompt: str) -> tuple[float, float | None]:
        return await run("fast", prompt), None

    async def first_progress(prompt: str) -> float:
        got: list[float] = []

        async def on_progress(_p: float, _t: float | None, _m: str | None) -> None:
            got.append(time.perf_counter())

        started = time.perf_counter()
        args = {"model": "fast", "prompt": prompt}
        await client.call_tool("stream_llm", args, progress_callback=on_progress)
        if not got:
            raise RuntimeError("stream_llm sent no progress notification")
        return _ms(started, got[0])

    async def slow_call(prompt: str) -> None:
        await run("slow", prompt)

    note = "execute_llm per call, stream_llm's first progress notification; RSS: llminst serve"
    rss = lambda: rss_kb(server, "VmHWM") / 1024  # noqa: E731
    return Way(call, _trio_burst(slow_call), first_progress, rss, note)


# --- the WebSocket peers (asyncio in a thread) ----------------------------------------------


class AsyncioThread:
    """An asyncio event loop in a thread (the websockets client is asyncio-only); trio awaits
    its coroutines from a worker thread, so both sides' timings are taken where the work is."""

    def __enter__(self) -> AsyncioThread:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return await trio.to_thread.run_sync(future.result)


async def _ws_way(
    stack: contextlib.AsyncExitStack,
    thread: AsyncioThread,
    url: str,
    fast: list[str],
    slow: list[str],
) -> Way:
    """Calls over one kept connection; a burst opens `CONCURRENT` connections (one session runs
    one process at a time), as cc_executor's own client connects per task."""
    from benchmarks.peers.ws_executor import ExecutorClient, claude_result_text

    async def execute(client: ExecutorClient, argv: list[str], prompt: str) -> tuple[float, float]:
        started = time.perf_counter()
        execution = await client.execute(shlex.join(_argv(argv, prompt)), EXECUTE_TIMEOUT_S)
        done = time.perf_counter()
        _check(prompt, claude_result_text(execution.stdout))
        return _ms(started, done), _ms(started, execution.first_stdout_at or done)

    connection = ExecutorClient.connect(url)
    kept = await thread.run(connection.__aenter__())
    stack.push_async_callback(thread.run, connection.__aexit__(None, None, None))

    async def call(prompt: str) -> tuple[float, float | None]:
        return await thread.run(execute(kept, fast, prompt))

    async def one(prompt: str) -> None:
        async with ExecutorClient.connect(url) as client:
            await execute(client, slow, prompt)

    async def gather(tag: str) -> float:
        started = time.perf_counter()
        await asyncio.gather(*(one(f"{tag}.{i}") for i in range(CONCURRENT)))
        return time.perf_counter() - started

    async def burst(tag: str) -> float:
        return await thread.run(gather(tag))

    return Way(call, burst)


@contextlib.contextmanager
def _baseline_server() -> Iterator[tuple[str, int]]:
    from benchmarks.peers.run_one import _start_server, _stop_server

    server, url = _start_server()
    try:
        yield url, server.pid
    finally:
        _stop_server(server)


# --- the section ----------------------------------------------------------------------------


async def _take_turns(ways: dict[str, Way], calls: int, rounds: int) -> dict[str, Timed]:
    """Each way's call in turn, `WARMUP` + `calls` times; then each way's burst, `rounds` times."""
    samples: dict[str, Timed] = {
        name: {"per_call_ms": [], "first_line_ms": [], "concurrent_wall_s": []} for name in ways
    }
    for i in range(WARMUP + calls):
        for name, way in ways.items():
            total, first = await way.call(f"{name} call {i}")
            if way.first is not None:
                first = await way.first(f"{name} stream {i}")
            if i >= WARMUP:
                samples[name]["per_call_ms"].append(total)
                samples[name]["first_line_ms"].append(first)
    for r in range(rounds):
        for name, way in ways.items():
            samples[name]["concurrent_wall_s"].append(await way.burst(f"{name} burst {r}"))
    for name, way in ways.items():
        samples[name].update(rss_mb=way.rss_mb(), notes=way.note)
    return samples


async def _all_ways(
    thread: AsyncioThread,
    folder: Path,
    commands: tuple[list[str], list[str]],
    servers: dict[str, tuple[str, Callable[[], float | None], str]],
    counts: tuple[int, int],
) -> dict[str, Timed]:
    fast, slow = commands
    async with contextlib.AsyncExitStack() as stack:
        ways = {
            "raw": _raw_way(fast, slow),
            "llminst API": await _api_way(stack, fast, slow),
            "llminst MCP stdio": await _mcp_way(stack, folder, fast, slow),
        }
        for name, (url, rss, note) in servers.items():
            ways[name] = await _ws_way(stack, thread, url, fast, slow)
            ways[name].rss_mb, ways[name].note = rss, note
        return await _take_turns(ways, *counts)


def measure(ctx: Context, path: str) -> dict[str, Timed]:
    """Every way's figures, in the order of the table; raises if any answer is wrong."""
    from benchmarks.peers.cc_executor import open_cc_executor
    from benchmarks.peers.run_one import _vm_hwm_mb

    folder = ctx.workdir / "executors"
    folder.mkdir(exist_ok=True)
    commands = _commands(folder)
    api_rss = trio.run(_api_peak_rss_mb, *commands)
    with contextlib.ExitStack() as stack:
        baseline_url, baseline_pid = stack.enter_context(_baseline_server())
        peer = stack.enter_context(open_cc_executor(path, ctx.workdir))
        thread = stack.enter_context(AsyncioThread())
        real_note = (
            f"grahama1970/cc_executor from {peer.tree.name} (uvicorn, its hooks, Redis "
            f"127.0.0.1:6379); execute with timeout {EXECUTE_TIMEOUT_S} s (else its Redis model "
            f"cuts calls off); cold start {peer.cold_start_s:.2f} s; RSS: its server"
        )
        servers = {
            "cc_executor-style WebSocket": (
                baseline_url,
                lambda: _vm_hwm_mb(baseline_pid),
                "benchmarks/peers/ws_executor.py: the design without Redis and hooks; RSS: its server",
            ),
            "cc_executor (real)": (peer.url, lambda: _vm_hwm_mb(peer.server_pid), real_note),
        }
        counts = (ctx.pick(30, 3), ctx.pick(3, 1))
        ways = trio.run(_all_ways, thread, folder, commands, servers, counts)
        redis_mb = _vm_hwm_mb(peer.redis_pid) or 0.0
        ways["cc_executor (real)"]["notes"] += f" (its Redis: {redis_mb:.1f} MB more)"
    if peer.leftovers:
        raise RuntimeError(f"cc_executor left processes {peer.leftovers} (killed)")
    ways["llminst API"]["rss_mb"] = api_rss
    return ways


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
