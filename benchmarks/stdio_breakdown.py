"""Where one MCP stdio call's time goes, layer by layer, client and server.

This module owns the per-layer breakdown of an `execute_llm` (or `estimate_tokens`) call made
by the official SDK client over stdio to a real `llminst serve`. The server runs under this
module (``--serve``), which wraps a few functions on its call path with probes that note
`time.perf_counter()` (CLOCK_MONOTONIC: comparable across processes on Linux) and the thread's
CPU time; the client wraps the SDK's line parser the same way. Segments (medians over the calls):

- client send + server wake: `call_tool` called -> the request's bytes read by the server;
- server read + decode: those bytes -> a decoded message (`wire`);
- handler task start: -> the SDK dispatcher's per-request task running;
- SDK dispatch: -> `MCPServer._handle_call_tool` (envelope, middleware, params validation);
- SDK tool run: -> our argument check (`Context`, tool lookup, `Tool.run`);
- our argument check, our tool until the call: -> `Supervisor.run` starts;
- the call (`Supervisor.run`), our result + SDK convert_result, SDK serialize, encode + write;
- client wake + read, client parse line, client dispatch + validate: -> `call_tool` returns.

It also counts, per call, the trio task steps and tasks spawned on each side and the server's
stderr lines. The probes wrap private SDK functions: a missing one fails the run (the SDK
changed), it is never skipped.
It measures only; nothing here is used by llminst. Run alone:
``python -m benchmarks.stdio_breakdown [--calls N] [--tool execute_llm|estimate_tokens]
[--store memory|sqlite]``.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

MARKS_ENV = "LLMINST_BREAKDOWN_MARKS"  # the server's probes write their marks to this file
WARMUP = 20
Marks = dict[str, float]

SEGMENTS = [
    ("c0", "s1", "client send + server wake"),
    ("s1", "s2", "server read + decode"),
    ("s2", "s3", "handler task start"),
    ("s3", "s4", "SDK dispatch"),
    ("s4", "s5", "SDK tool run"),
    ("s5", "s6", "our argument check"),
    ("s6", "s7", "our tool until the call"),
    ("s7", "s8", "the call (Supervisor.run)"),
    ("s8", "s9", "our result + SDK convert_result"),
    ("s9", "s10", "SDK serialize"),
    ("s10", "s11", "encode + write"),
    ("s11", "c12", "client wake + read"),
    ("c12", "c13", "client parse line"),
    ("c13", "c14", "client dispatch + validate"),
    ("c0", "c14", "whole call"),
]


class _Steps(trio.abc.Instrument):
    """Counts task steps and spawns while `counting`."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.counting = False

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if self.counting:
            self.counts["steps"] += 1

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        if self.counting:
            self.counts["spawned"] += 1


def _noter(marks: Marks) -> Callable[[str], None]:
    def note(name: str) -> None:
        marks["s" + name] = time.perf_counter()
        marks["t" + name] = time.thread_time()

    return note


def _wrap_async(
    owner: Any, name: str, before: Callable[[], None], after: Callable[[], None]
) -> None:
    original = getattr(owner, name)

    async def probed(*args: Any, **kwargs: Any) -> Any:
        before()
        try:
            return await original(*args, **kwargs)
        finally:
            after()

    setattr(owner, name, probed)


def _install_server_probes(calls: list[Marks], steps: _Steps) -> None:
    """Wrap the server's call path; each finished response appends its marks to `calls`."""
    from mcp.server.mcpserver import server as sdk_server
    from mcp.shared import jsonrpc_dispatcher

    from llminst import wire
    from llminst.server import registry
    from llminst.supervisor import facade
    from llminst.transports import stdio

    marks: Marks = {}
    note = _noter(marks)
    read_bytes = stdio._LineReader._receive

    async def receive(self: Any) -> bytes:
        data: bytes = await read_bytes(self)
        if not marks:  # the first bytes of a request
            note("1")
            steps.counting = True
        return data

    stdio._LineReader._receive = receive  # type: ignore[method-assign]
    _wrap_async(wire.MessageLines, "receive", lambda: None, lambda: marks and note("2"))
    _wrap_async(
        jsonrpc_dispatcher.JSONRPCDispatcher, "_handle_request", lambda: note("3"), lambda: None
    )
    _wrap_async(sdk_server.MCPServer, "_handle_call_tool", lambda: note("4"), lambda: note("9"))
    check = registry.check_arguments

    def checked(*args: Any, **kwargs: Any) -> Any:
        note("5")
        result = check(*args, **kwargs)
        note("6")
        return result

    registry.check_arguments = checked
    _wrap_async(facade.Supervisor, "run", lambda: note("7"), lambda: note("8"))

    def written() -> None:
        note("11")
        steps.counting = False
        calls.append({**marks, **{f"n_{k}": v for k, v in steps.counts.items()}})
        marks.clear()
        steps.counts.clear()

    _wrap_async(wire.MessageWriter, "send", lambda: note("10"), written)


def serve(argv: list[str]) -> int:
    """`llminst serve` with the probes on; the marks are written as it exits."""
    calls: list[Marks] = []
    steps = _Steps()
    _install_server_probes(calls, steps)
    path = Path(os.environ[MARKS_ENV])
    atexit.register(lambda: path.write_text(json.dumps(calls)))
    real_run = trio.run

    def run_with_steps(*args: Any, **kwargs: Any) -> Any:
        kwargs["instruments"] = [*kwargs.get("instruments", ()), steps]
        return real_run(*args, **kwargs)

    trio.run = run_with_steps  # type: ignore[assignment]  # the CLI's trio.run, counted
    from llminst.cli import main

    return main(argv)


async def measure(calls: int, tool: str, store: str, folder: Path) -> dict[str, Any]:
    """Run `calls` calls of `tool` (after a warm-up) and return the breakdown."""
    from mcp import Client, StdioServerParameters
    from mcp.client import stdio as sdk_stdio

    from .common import write_config
    from .standins import build_standin

    ok = build_standin(folder).argv("ok")
    config = write_config(folder / "breakdown.toml", {"bench-ok": ok})
    marks_file = folder / "marks.json"
    stderr_file = folder / "serve.stderr"
    args = {"model": "bench-ok", "prompt": "x"} if tool == "execute_llm" else {"text": "x"}
    client_marks: Marks = {}
    parse = sdk_stdio._parse_line

    def parse_probed(line: str) -> Any:
        client_marks["c12"] = time.perf_counter()
        try:
            return parse(line)
        finally:
            client_marks["c13"] = time.perf_counter()

    sdk_stdio._parse_line = parse_probed
    steps = _Steps()
    trio.lowlevel.add_instrument(steps)
    serve_args = ["-m", "benchmarks.stdio_breakdown", "--serve", "--config", str(config)]
    params = StdioServerParameters(
        command=sys.executable,
        args=[*serve_args, "serve", *(("--store", "memory") if store == "memory" else ())],
        env={MARKS_ENV: str(marks_file), "PYTHONPATH": os.getcwd()},
    )
    rows: list[Marks] = []
    cpu = 0.0
    with stderr_file.open("w") as errlog:
        async with Client(sdk_stdio.stdio_client(params, errlog=errlog)) as client:
            for _ in range(WARMUP):
                await client.call_tool(tool, args)
            lines_before = stderr_file.read_text().count("\n")
            for _ in range(calls):
                start_cpu = time.process_time()
                steps.counting = True
                started = time.perf_counter()
                result = await client.call_tool(tool, args)
                rows.append({**client_marks, "c0": started, "c14": time.perf_counter()})
                steps.counting = False
                cpu += time.process_time() - start_cpu
                if result.is_error:
                    raise RuntimeError(f"{tool} failed: {result.content}")
            log_lines = stderr_file.read_text().count("\n") - lines_before
    server_calls = json.loads(marks_file.read_text())[-calls:]
    return _summarize(rows, server_calls, cpu / calls, steps.counts, log_lines / calls)


def _summarize(
    client_rows: list[Marks],
    server_rows: list[Marks],
    client_cpu_s: float,
    client_steps: collections.Counter[str],
    log_lines: float,
) -> dict[str, Any]:
    calls = len(client_rows)
    merged = [{**s, **c} for s, c in zip(server_rows, client_rows, strict=True)]
    segments = []
    for start, end, name in SEGMENTS:
        walls = [(m[end] - m[start]) * 1000 for m in merged if start in m and end in m]
        cpus = [
            (m["t" + end[1:]] - m["t" + start[1:]]) * 1000
            for m in merged
            if start[0] == end[0] == "s" and "t" + start[1:] in m and "t" + end[1:] in m
        ]
        segments.append(
            {
                "segment": name,
                "wall_ms": statistics.median(walls) if walls else None,
                "server_cpu_ms": statistics.median(cpus) if cpus else None,
            }
        )
    per_call = {
        "client_cpu_ms": client_cpu_s * 1000,
        "server_cpu_ms": statistics.median(m["t11"] - m["t1"] for m in merged) * 1000,
        "client_task_steps": client_steps["steps"] / calls,
        "client_tasks_spawned": client_steps["spawned"] / calls,
        "server_task_steps": statistics.fmean(m.get("n_steps", 0) for m in merged),
        "server_tasks_spawned": statistics.fmean(m.get("n_spawned", 0) for m in merged),
        "server_log_lines": log_lines,
    }
    return {"calls": calls, "segments": segments, "per_call": per_call}


def render(result: dict[str, Any]) -> str:
    lines = [
        f"{result['calls']} calls; medians (ms)",
        f"{'segment':36s} {'wall':>8s} {'server CPU':>11s}",
    ]
    for row in result["segments"]:
        wall = "-" if row["wall_ms"] is None else f"{row['wall_ms']:8.3f}"
        cpu = "" if row["server_cpu_ms"] is None else f"{row['server_cpu_ms']:11.3f}"
        lines.append(f"{row['segment']:36s} {wall:>8s} {cpu}")
    lines += [f"{key}: {value:.3f}" for key, value in result["per_call"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve"]:
        return serve(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stdio_breakdown")
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--tool", choices=["execute_llm", "estimate_tokens"], default="execute_llm")
    parser.add_argument("--store", choices=["memory", "sqlite"], default="sqlite")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="llminst-breakdown-") as folder:
        result = trio.run(measure, args.calls, args.tool, args.store, Path(folder))
    print(json.dumps(result) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
