"""How fast a response-cache hit answers, against the call that filled the cache.

This module owns the cache-hit latency figure (goal: under 5 ms). A stand-in CLI answers once
(the miss, a real process); then the same call with ``cache=True`` is timed N times through
the library (`Supervisor.run`) and through the MCP tool ``execute_llm`` on the SDK's in-memory
client, each hit answered from the store (in memory, and a SQLite file) without a process. Run alone:
``python -m benchmarks.cache_latency [--hits N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trio
from mcp import Client

from llminst import BUILTIN_MODELS, ModelSpec, open_supervisor
from llminst.server import ServerOptions, create_server
from llminst.store import open_store

from .stats import percentile

_PROMPT = "What is the capital of France? Answer in one word."
_STANDIN = ModelSpec(name="standin", command=(sys.executable, "-c", "import sys; print('Paris')"))
_MODELS = {**BUILTIN_MODELS, "standin": _STANDIN}


async def library_hits(hits: int, store_path: str | None = None) -> tuple[float, list[float]]:
    """(the miss's ms, each hit's ms) through `Supervisor.run`, on an in-memory store or the
    SQLite file `store_path`."""
    async with (
        open_store(store_path or "memory") as store,
        open_supervisor(models=_MODELS, store=store) as supervisor,
    ):
        started = time.perf_counter()
        await supervisor.run("standin", _PROMPT, cache=True)
        miss_ms = (time.perf_counter() - started) * 1000
        times = []
        for _ in range(hits):
            started = time.perf_counter()
            result = await supervisor.run("standin", _PROMPT, cache=True)
            times.append((time.perf_counter() - started) * 1000)
            assert result.cached
    return miss_ms, sorted(times)


async def mcp_hits(hits: int) -> list[float]:
    """Each hit's ms through execute_llm on the in-memory MCP client."""
    server = create_server(ServerOptions(models=_MODELS))
    arguments = {"model": "standin", "prompt": _PROMPT, "cache": True, "stream": False}
    times = []
    async with Client(server) as client:
        await client.call_tool("execute_llm", arguments)
        for _ in range(hits):
            started = time.perf_counter()
            result = await client.call_tool("execute_llm", arguments)
            times.append((time.perf_counter() - started) * 1000)
            assert result.structured_content and result.structured_content["cached"]
    return sorted(times)


def _line(label: str, times: list[float]) -> str:
    return (
        f"{label}: n={len(times)} median={statistics.median(times):.3f} ms "
        f"p95={percentile(times, 95):.3f} ms max={times[-1]:.3f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=200)
    args = parser.parse_args()
    miss_ms, library = trio.run(library_hits, args.hits)
    with tempfile.TemporaryDirectory() as folder:
        _, on_sqlite = trio.run(library_hits, args.hits, str(Path(folder) / "calls.sqlite3"))
    over_mcp = trio.run(mcp_hits, args.hits)
    print(f"cache miss (a real process): {miss_ms:.2f} ms")
    print(_line("cache hit, library", library))
    print(_line("cache hit, library on SQLite", on_sqlite))
    print(_line("cache hit, execute_llm in memory", over_mcp))


if __name__ == "__main__":
    main()
