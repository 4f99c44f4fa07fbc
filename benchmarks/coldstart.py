"""Cold start: `llminst serve` from process start to `initialize` answered, and its idle RSS.

This section owns the server start-up measurement. The harness writes a JSON-RPC `initialize`
request (the pre-2026 handshake every client still speaks) to a fresh `llminst serve` over
stdio and times spawn -> the matching response line; after `notifications/initialized` and a
short pause it reads the server's RSS from /proc, then closes stdin and waits for it to exit.
Baselines, in the same run: a bare interpreter (``python -c pass``) and the SDK's own import
(``python -c "import mcp.server"``); the ratio is to the latter.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import trio

from .common import Context, rss_kb, serve_argv, table, write_config
from .stats import ratio, summarize

TITLE = "Cold start"
PROTOCOL = "2025-11-25"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": PROTOCOL,
        "capabilities": {},
        "clientInfo": {"name": "llminst-bench", "version": "0"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


async def _serve_once(argv: list[str]) -> tuple[float, float]:
    start = time.perf_counter()
    proc = await trio.lowlevel.open_process(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        await proc.stdin.send_all(json.dumps(INITIALIZE).encode() + b"\n")
        buffer = b""
        with trio.fail_after(60):
            while True:
                data = await proc.stdout.receive_some(65536)
                if not data:
                    raise RuntimeError("llminst serve closed stdout before answering initialize")
                buffer += data
                lines = buffer.split(b"\n")
                if any(line and json.loads(line).get("id") == 1 for line in lines[:-1]):
                    break
        took = time.perf_counter() - start
        await proc.stdin.send_all(json.dumps(INITIALIZED).encode() + b"\n")
        await trio.sleep(0.5)  # let it settle: what it holds while waiting for work
        idle_mb = rss_kb(proc.pid) / 1024
    finally:
        with trio.CancelScope(shield=True):
            await proc.stdin.aclose()
            with trio.move_on_after(10):
                await proc.wait()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await proc.stdout.aclose()
    return took * 1000, idle_mb


async def _python(code: str) -> float:
    start = time.perf_counter()
    await trio.run_process([sys.executable, "-c", code])
    return (time.perf_counter() - start) * 1000


async def run(ctx: Context) -> dict[str, Any]:
    reps = ctx.pick(7, 1)
    config = write_config(ctx.workdir / "coldstart.toml", {"bench-ok": ctx.standin.argv("ok")})
    argv = serve_argv(config)
    samples: dict[str, list[float]] = {"python -c pass": [], "import mcp.server": [], "serve": []}
    idle: list[float] = []
    await _serve_once(argv)  # warm the page cache and .pyc files
    for _ in range(reps):
        samples["python -c pass"].append(await _python("pass"))
        samples["import mcp.server"].append(await _python("import mcp.server"))
        took, idle_mb = await _serve_once(argv)
        samples["serve"].append(took)
        idle.append(idle_mb)
    stats = {name: summarize(values) for name, values in samples.items()}
    for s in stats.values():
        s["ratio"] = ratio(s["median"], stats["import mcp.server"]["median"])
    stats["serve"]["idle_rss_mb"] = summarize(idle)
    rows = [[name, s["n"], s["median"], s["max"], s["ratio"]] for name, s in stats.items()]
    return {
        "title": TITLE,
        "about": (
            "Milliseconds from spawning the process to (serve) the `initialize` response read "
            f"from its stdout (protocol {PROTOCOL}), or (baselines) the interpreter's exit. "
            f"Idle RSS of the server after initialize: {stats['serve']['idle_rss_mb']['median']:.1f} MB "
            "(median)."
        ),
        "tables": [
            table(["process", "n", "median ms", "max ms", "x import mcp.server"], rows),
            table(
                ["figure", "median", "max"],
                [
                    [
                        "idle RSS after initialize (MB)",
                        stats["serve"]["idle_rss_mb"]["median"],
                        stats["serve"]["idle_rss_mb"]["max"],
                    ]
                ],
            ),
        ],
        "data": stats,
    }
