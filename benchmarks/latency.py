"""Chunk latency: from the stand-in writing a chunk to the consumer receiving it.

This section owns the streaming-latency comparison. The stand-in writes one line every few
milliseconds holding the CLOCK_MONOTONIC time of the write; the consumer subtracts it from
`time.monotonic()` when the chunk reaches it:

- ``raw``: `receive_some` on the stand-in's stdout pipe (the floor);
- ``api``: `Supervisor.open_stream`, iterating the text chunks (calls recorded in memory);
- ``api-sqlite``: the same with every call recorded in a SQLite store (as `llminst run` and
  `serve` do), to show recording costs the stream nothing;
- ``mcp-stdio``: progress notifications from `llminst serve` over stdio, at the SDK client's
  callback (`benchmarks.progress_latency`); its chunks are spaced wider than the server's 50 ms
  coalescing window so each one is sent at once.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from typing import Any

import trio

from llminst import Supervisor, open_supervisor
from llminst.store import open_store

from . import progress_latency
from .common import Context, model, settings, table
from .stats import ratio, summarize

TITLE = "Chunk latency"
API_INTERVAL_MS = 20.0
MCP_INTERVAL_MS = 75.0


def _lines(buffer: str, received: float, out: list[float]) -> str:
    *complete, rest = buffer.split("\n")
    out.extend((received - float(line)) * 1000 for line in complete if line)
    return rest


async def _raw(argv: Sequence[str]) -> list[float]:
    latencies: list[float] = []
    proc = await trio.lowlevel.open_process(
        list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    buffer = ""
    while data := await proc.stdout.receive_some(65536):
        buffer = _lines(buffer + data.decode(), time.monotonic(), latencies)
    await proc.wait()
    await proc.stdout.aclose()
    return latencies


async def _api(supervisor: Supervisor) -> list[float]:
    latencies: list[float] = []
    buffer = ""
    async with supervisor.open_stream("bench-tick", "x", timeout=120) as stream:
        async for chunk in stream:
            buffer = _lines(buffer + chunk, time.monotonic(), latencies)
    return latencies


async def run(ctx: Context) -> dict[str, Any]:
    calls, chunks, mcp_calls, mcp_chunks = ctx.pick((3, 100, 2, 60), (1, 10, 1, 5))
    tick = ctx.standin.argv("stream", chunks, API_INTERVAL_MS)
    specs = {"bench-tick": model("bench-tick", tick)}
    samples: dict[str, list[float]] = {"raw": [], "api": [], "api-sqlite": []}
    async with (
        open_store(ctx.workdir / "latency.sqlite3") as store,
        open_supervisor(models=specs, settings=settings()) as supervisor,
        open_supervisor(models=specs, settings=settings(), store=store) as recorded,
    ):
        for _ in range(calls):
            samples["raw"] += await _raw([*tick, "x"])
            samples["api"] += await _api(supervisor)
            samples["api-sqlite"] += await _api(recorded)
    mcp_tick = ctx.standin.argv("stream", mcp_chunks, MCP_INTERVAL_MS)
    samples["mcp-stdio"] = await progress_latency.measure(mcp_calls, mcp_tick, ctx.workdir)
    for name, values in samples.items():
        expected = (mcp_calls * mcp_chunks) if name == "mcp-stdio" else calls * chunks
        if len(values) != expected:
            raise RuntimeError(f"{name}: {len(values)} chunks received, {expected} written")
    stats = {name: summarize(values) for name, values in samples.items()}
    for s in stats.values():
        s["ratio"] = ratio(s["median"], stats["raw"]["median"])
    interval = {"mcp-stdio": MCP_INTERVAL_MS}
    rows = [
        [
            name,
            s["n"],
            interval.get(name, API_INTERVAL_MS),
            s["median"],
            s["p95"],
            s["p99"],
            s["max"],
            s["ratio"],
        ]
        for name, s in stats.items()
    ]
    return {
        "title": TITLE,
        "about": (
            "Milliseconds from the stand-in's write (CLOCK_MONOTONIC, written in the chunk) to "
            "the consumer holding the chunk. raw, api and api-sqlite calls alternate (api-sqlite "
            "records every call in a SQLite store); mcp-stdio is the SDK client's progress "
            "callback on one stdio session."
        ),
        "tables": [
            table(
                [
                    "consumer",
                    "chunks",
                    "interval ms",
                    "median ms",
                    "p95 ms",
                    "p99 ms",
                    "max ms",
                    "x raw",
                ],
                rows,
            )
        ],
        "data": stats,
    }
