"""Latency from a chunk written by a CLI to the MCP progress notification the client receives.

This module owns the over-the-wire chunk latency measurement (the harness's `latency` section
reuses `measure`). A stand-in CLI writes the time of each write on its own line, in seconds of
CLOCK_MONOTONIC (system-wide on Linux, so comparable across processes); `llminst serve` runs as
a subprocess speaking MCP over stdio, and the official SDK client notes `time.monotonic()` when
each progress notification reaches its callback. Chunks must come more than ~50 ms apart, or the
server's coalescing (by design) batches them. Run alone:
``python -m benchmarks.progress_latency [--calls N] [--lines N]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import trio
from mcp import Client, StdioServerParameters

TICKER = """\
import sys, time
for _ in range(int(sys.argv[1])):
    time.sleep(float(sys.argv[2]) / 1000)
    sys.stdout.write(f"{time.monotonic():.9f}\\n")
    sys.stdout.flush()
"""


async def measure(calls: int, command: Sequence[str], folder: Path) -> list[float]:
    """Latencies (ms, sorted) of every line `command` writes, over `calls` stream_llm calls.

    Args:
        calls: how many calls, one after another, on one stdio session.
        command: the stand-in's argv; each line it writes is a CLOCK_MONOTONIC time.
        folder: where to write the server's config file.
    """
    latencies_ms: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        received = time.monotonic()
        for line in (message or "").splitlines():
            latencies_ms.append((received - float(line)) * 1000)

    config = folder / "progress-latency.toml"
    config.write_text(
        f'[models.ticker]\ncommand = {json.dumps(list(command))}\nprompt_separator = "--"\n'
        f"[store]\npath = {json.dumps(str(folder / 'llminst.sqlite3'))}\n"
    )
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "llminst.cli", "--config", str(config), "serve"]
    )
    async with Client(params) as client:
        for _ in range(calls):
            result = await client.call_tool(
                "stream_llm", {"model": "ticker", "prompt": "x"}, progress_callback=on_progress
            )
            if result.is_error:
                raise RuntimeError(f"stream_llm failed: {result.content}")
            await trio.sleep(0.2)  # let the SDK's callback tasks finish
    return sorted(latencies_ms)


async def _measure_with_ticker(calls: int, lines: int, interval_ms: float) -> list[float]:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        ticker = folder / "ticker.py"
        ticker.write_text(TICKER)
        command = [sys.executable, str(ticker), str(lines), str(interval_ms)]
        return await measure(calls, command, folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--lines", type=int, default=40)
    parser.add_argument("--interval-ms", type=float, default=100.0)
    args = parser.parse_args()
    latencies = trio.run(_measure_with_ticker, args.calls, args.lines, args.interval_ms)
    p95 = latencies[int(len(latencies) * 0.95)]
    print(
        f"chunk -> progress notification over stdio: n={len(latencies)} "
        f"median={statistics.median(latencies):.2f} ms p95={p95:.2f} ms max={latencies[-1]:.2f} ms"
    )


if __name__ == "__main__":
    main()
