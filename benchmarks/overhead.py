"""Per-call overhead: the same answer-at-once stand-in called every way llminst offers.

This section owns the per-call comparison. Methods, each timed around one whole call:

- ``raw``: `trio.lowlevel.open_process`, read stdout to EOF, wait (the floor);
- ``api``: `Supervisor.run` (the Python API; calls recorded in memory: the store off);
- ``api-sqlite``: the same with every call recorded in a SQLite store (the default of
  `llminst run` and `serve`); its overhead is against ``api`` (goal: <= +1 ms at the median);
- ``api-redis``: the same with a Redis store (a redis-server the harness starts on loopback);
  its overhead is against ``api-sqlite`` (goal: <= +2 ms at the median);
- ``mcp-memory``: the `execute_llm` tool through the SDK's in-memory `Client(server)`;
- ``mcp-stdio``: a real `llminst serve` subprocess over stdio (one session, repeated calls);
- ``mcp-http``: `llminst serve --transport http --token ...` with the SDK's HTTP client;
- ``raw-claude`` / ``api-claude``: the same pair on a stand-in printing claude's stream-json;
- ``sdk-stdio``: `estimate_tokens` over the same stdio session, which starts no process: the MCP
  SDK's own round trip (client and server) with next to nothing of llminst's in it. Its table
  gives ``mcp-stdio`` less this round trip and the raw call: what llminst adds to an MCP call
  over the SDK and the CLI.

Methods run interleaved in rounds (a shuffled order each round) so drift in the machine's speed
hits them alike. Overhead = median(method) - median(raw) of the same run.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from llminst import Supervisor, open_supervisor
from llminst.server import ServerOptions, create_server
from llminst.store import CallStore, open_store

from .common import (
    HTTP_TOKEN,
    Context,
    claude_model,
    model,
    open_http_server,
    raw_call,
    serve_argv,
    settings,
    table,
    write_config,
)
from .redis_server import open_redis_server, redis_server_binary
from .stats import ratio, summarize

TITLE = "Per-call overhead"
CLAUDE_DELTAS = 20
BASELINE_OF = {
    "raw-claude": "raw-claude",
    "api-claude": "raw-claude",
    "api-sqlite": "api",
    "api-redis": "api-sqlite",
}


def _text(result: Any) -> str:
    if result.is_error:
        raise RuntimeError(f"the tool failed: {result.content}")
    return "".join(c.text for c in result.content if c.type == "text")


async def run(ctx: Context) -> dict[str, Any]:
    ok = ctx.standin.argv("ok")
    claude = ctx.standin.argv("claude", CLAUDE_DELTAS)
    specs = {
        "bench-ok": model("bench-ok", ok),
        "bench-claude": claude_model("bench-claude", claude),
    }
    config = write_config(ctx.workdir / "overhead.toml", {"bench-ok": ok})
    argv = serve_argv(config)
    server = create_server(ServerOptions(models=specs, settings=settings()))
    rounds, per_round, warmup = ctx.pick((30, 20, 10), (2, 5, 2))
    args = {"model": "bench-ok", "prompt": "x"}

    async with (
        open_store(ctx.workdir / "overhead.sqlite3") as store,
        _redis_store(ctx) as redis_store,
        open_supervisor(models=specs, settings=settings()) as supervisor,
        open_supervisor(models=specs, settings=settings(), store=store) as recorded,
        open_supervisor(models=specs, settings=settings(), store=redis_store) as in_redis,
        Client(server) as memory,
        Client(StdioServerParameters(command=argv[0], args=argv[1:])) as stdio,
        open_http_server(config) as url,
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {HTTP_TOKEN}"}) as http,
        Client(streamable_http_client(url, http_client=http)) as remote,
    ):

        async def api(name: str, through: Supervisor = supervisor) -> str:
            return (await through.run(name, "x", timeout=60)).output

        methods: dict[str, Callable[[], Awaitable[Any]]] = {
            "raw": lambda: raw_call([*ok, "x"]),
            "api": lambda: api("bench-ok"),
            "api-sqlite": lambda: api("bench-ok", recorded),
            "api-redis": lambda: api("bench-ok", in_redis),
            "mcp-memory": lambda: _tool(memory, args),
            "mcp-stdio": lambda: _tool(stdio, args),
            "mcp-http": lambda: _tool(remote, args),
            "raw-claude": lambda: raw_call([*claude, "x"]),
            "api-claude": lambda: api("bench-claude"),
            "sdk-stdio": lambda: _round_trip(stdio),
        }
        if redis_store is None:  # no redis-server here: the row is left out, not faked
            del methods["api-redis"]
        for name, call in methods.items():  # warm up, and check every method answers
            for _ in range(warmup):
                answer = await call()
            text = answer.decode() if isinstance(answer, bytes) else answer
            if "ok" not in text:
                raise RuntimeError(f"{name}: unexpected answer {text!r}")
        timings: dict[str, list[float]] = {name: [] for name in methods}
        order = list(methods)
        rng = random.Random(6)
        for _ in range(rounds):
            rng.shuffle(order)
            for name in order:
                call = methods[name]
                for _ in range(per_round):
                    start = time.perf_counter()
                    await call()
                    timings[name].append((time.perf_counter() - start) * 1000)
    return _report(timings)


@asynccontextmanager
async def _redis_store(ctx: Context) -> AsyncIterator[CallStore | None]:
    """A Redis store on a redis-server of this section's own, or None without the program."""
    if redis_server_binary() is None:
        yield None
        return
    async with (
        open_redis_server(ctx.workdir / "overhead-redis") as url,
        open_store(url) as store,
    ):
        yield store


async def _tool(client: Client, args: dict[str, Any]) -> str:
    return _text(await client.call_tool("execute_llm", args))


async def _round_trip(client: Client) -> str:
    """One `estimate_tokens` call: "ok" once it answered (its text is a JSON estimate)."""
    _text(await client.call_tool("estimate_tokens", {"text": "x"}))
    return "ok"


def _report(timings: dict[str, list[float]]) -> dict[str, Any]:
    stats = {name: summarize(values) for name, values in timings.items()}
    rows = []
    for name, s in stats.items():
        if name in _NOT_A_CALL:
            continue
        base = stats[BASELINE_OF.get(name, "raw")]
        s["overhead_ms"] = s["median"] - base["median"]
        s["ratio"] = ratio(s["median"], base["median"])
        s["baseline"] = BASELINE_OF.get(name, "raw")
        rows.append(
            [
                name,
                s["n"],
                s["median"],
                s["p95"],
                s["p99"],
                s["overhead_ms"],
                s["ratio"],
                s["baseline"],
            ]
        )
    return {
        "title": TITLE,
        "about": (
            "Wall time of one whole call (ms) on a stand-in that answers at once; "
            "overhead = median - median of its raw baseline, measured in the same run "
            f"(interleaved rounds). `*-claude` rows use a stand-in printing claude stream-json "
            f"({CLAUDE_DELTAS} text deltas). api-sqlite records every call in a SQLite store "
            "(WAL, one writer thread); its baseline is api (the store off: in memory). "
            "api-redis records them in a Redis store (a redis-server on loopback, coredis on "
            "trio); its baseline is api-sqlite. MCP clients: the official SDK's `Client` "
            "(mcp-memory in its default direct-dispatch mode); mcp-http sends a bearer token. "
            "sdk-stdio is estimate_tokens over the mcp-stdio session (no process): the SDK's "
            "own round trip; mcp-stdio less it and the raw call is what llminst adds."
        ),
        "tables": [
            table(
                [
                    "method",
                    "n",
                    "median ms",
                    "p95 ms",
                    "p99 ms",
                    "overhead ms",
                    "x raw",
                    "baseline",
                ],
                rows,
            ),
            _sdk_table(stats),
        ],
        "data": {"methods": stats, "mcp_stdio_over_sdk_ms": _over_sdk(stats)},
    }


# Timed in the same rounds, but not a call of a CLI: shown in a table of its own.
_NOT_A_CALL = {"sdk-stdio"}


def _over_sdk(stats: dict[str, Any]) -> float:
    """mcp-stdio less the SDK's own stdio round trip and the raw call (medians, ms)."""
    sdk = stats["sdk-stdio"]["median"]
    return float(stats["mcp-stdio"]["median"] - sdk - stats["raw"]["median"])


def _sdk_table(stats: dict[str, Any]) -> dict[str, Any]:
    sdk = stats["sdk-stdio"]
    return table(
        [
            "the MCP SDK's stdio round trip (estimate_tokens)",
            "n",
            "median ms",
            "p95 ms",
            "mcp-stdio - it - raw, ms",
        ],
        [["sdk-stdio", sdk["n"], sdk["median"], sdk["p95"], _over_sdk(stats)]],
    )
