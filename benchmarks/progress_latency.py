"""Latency from a chunk written by a CLI to the MCP progress notification the client receives.

A stand-in CLI writes its wall-clock time on each line, every 100 ms; `llminst serve` runs as a
subprocess speaking MCP over stdio, and the official SDK client records when each progress
notification reaches its callback. Run: ``python -m benchmarks.progress_latency [--calls N]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio
from mcp import Client, StdioServerParameters

TICKER = """\
import sys, time
for _ in range(int(sys.argv[1])):
    time.sleep(0.1)
    sys.stdout.write(f"{time.time():.6f}\\n")
    sys.stdout.flush()
"""


async def measure(calls: int, lines: int) -> list[float]:
    latencies_ms: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        received = time.time()
        for line in (message or "").splitlines():
            latencies_ms.append((received - float(line)) * 1000)

    with tempfile.TemporaryDirectory() as folder:
        ticker = Path(folder) / "ticker.py"
        ticker.write_text(TICKER)
        config = Path(folder) / "config.toml"
        command = [sys.executable, str(ticker), str(lines)]
        config.write_text(
            f'[models.ticker]\ncommand = {json.dumps(command)}\nprompt_separator = "--"\n'
        )
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "llminst.cli", "--config", str(config), "serve"]
        )
        async with Client(params) as client:
            for _ in range(calls):
                await client.call_tool(
                    "stream_llm", {"model": "ticker", "prompt": "x"}, progress_callback=on_progress
                )
                await trio.sleep(0.2)  # let the SDK's callback tasks finish
    return sorted(latencies_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--lines", type=int, default=40)
    args = parser.parse_args()
    latencies = trio.run(measure, args.calls, args.lines)
    p95 = latencies[int(len(latencies) * 0.95)]
    print(
        f"chunk -> progress notification over stdio: n={len(latencies)} "
        f"median={statistics.median(latencies):.2f} ms p95={p95:.2f} ms max={latencies[-1]:.2f} ms"
    )


if __name__ == "__main__":
    main()
