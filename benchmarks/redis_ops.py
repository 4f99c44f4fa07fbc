"""`python -m benchmarks.redis_ops [--calls N] [--out DIR]`: what one call costs the Redis server.

It starts a redis-server of its own on 127.0.0.1, runs N echo-like calls (a stand-in CLI that
answers at once) through the library with the Redis store, one at a time after a warm-up, and
reads from the server itself: the commands it executed (``INFO commandstats``, before and
after: the commands a client sends are the EVALSHA/EVAL and plain commands, several of which
may share one round trip in a pipeline; the commands inside the Lua scripts are counted by
Redis too) and the CPU seconds the redis-server process spent (from
/proc). From the CPU per call it derives how many calls per second one Redis core serves. It
writes ``redis_ops.md`` and ``redis_ops.json`` into the output folder (default
``benchmarks/results``): docs/scaling.md cites them.

What it must never do: bind anything but loopback, or leave the server running.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import coredis
import trio

from llminst import open_supervisor
from llminst.store import open_store

from .common import model, settings
from .redis_server import open_redis_server, redis_server_binary

__all__ = ["main", "measure"]

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# A CLI that answers at once, so the calls' own time is all llminst and the store.
_ANSWER_AT_ONCE = (sys.executable, "-c", "print('ok')")


def _server_cpu_s(pid: int) -> float:
    """utime + stime of `pid` in seconds (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


async def _commandstats(client: Any) -> dict[str, int]:
    info = await client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): int(stats["calls"])
        for name, stats in info.items()
        if name.startswith("cmdstat_")
    }


async def measure(calls: int, scratch: Path) -> dict[str, Any]:
    """Run `calls` calls on a Redis store; the commands and server CPU per call."""
    specs = {"echo-now": model("echo-now", _ANSWER_AT_ONCE)}
    async with open_redis_server(scratch) as url:
        info_client = coredis.Redis.from_url(url, decode_responses=True)
        async with info_client, open_store(url) as store:
            info = await info_client.info("server")
            pid = int(info["process_id"])
            async with open_supervisor(models=specs, settings=settings(), store=store) as sup:
                for _ in range(3):  # warm up: scripts loaded, connections open
                    await sup.run("echo-now", "x")
                await sup.flushed()
                before, cpu_before = await _commandstats(info_client), _server_cpu_s(pid)
                started = time.perf_counter()
                for _ in range(calls):
                    await sup.run("echo-now", "x")
                await sup.flushed()
                wall = time.perf_counter() - started
                after, cpu_after = await _commandstats(info_client), _server_cpu_s(pid)
    info_calls = after.get("info", 0) - before.get("info", 0)
    per_command = {
        name: round((after[name] - before.get(name, 0)) / calls, 2)
        for name in sorted(after)
        if after[name] - before.get(name, 0) > (info_calls if name == "info" else 0)
    }
    scripts = sum(v for k, v in per_command.items() if k in {"evalsha", "eval", "fcall"})
    cpu_per_call = (cpu_after - cpu_before) / calls
    return {
        "calls": calls,
        "wall_s": round(wall, 3),
        "commands_per_call": per_command,
        "commands_sent_per_call": round(
            sum(v for k, v in per_command.items() if k in {"evalsha", "eval", "fcall"})
            + sum(
                v
                for k, v in per_command.items()
                if k not in _INSIDE_SCRIPTS and k not in {"evalsha", "eval", "fcall"}
            ),
            2,
        ),
        "scripts_per_call": scripts,
        "server_cpu_ms_per_call": round(cpu_per_call * 1000, 4),
        "calls_per_s_per_redis_core": round(1 / cpu_per_call) if cpu_per_call > 0 else None,
    }


# Commands only the store's Lua scripts issue (counted by Redis inside EVALSHA, not sent alone).
_INSIDE_SCRIPTS = frozenset(
    {"exists", "del", "hset", "hdel", "zadd", "zrem", "hget", "hincrby", "xadd", "hsetnx", "expire"}
)


def _markdown(figures: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| `{name}` | {count} |" for name, count in figures["commands_per_call"].items()
    )
    return f"""# What one call costs the Redis server

Produced by `python -m benchmarks.redis_ops --calls {figures["calls"]}` on {figures["date"]}
({figures["machine"]}): {figures["calls"]} calls one at a time through the library with the Redis
store, a stand-in CLI that answers at once, a redis-server of its own on 127.0.0.1. Commands are
Redis's own count (`INFO commandstats`), including those the store's Lua scripts run inside
one EVALSHA; the CPU is the redis-server process's user + system time.

| figure | per call |
|---|---|
| commands sent (EVALSHA/EVAL and plain commands; a pipeline sends several in one round trip) | {figures["commands_sent_per_call"]} |
| Lua scripts (EVALSHA/EVAL) | {figures["scripts_per_call"]} |
| redis-server CPU | {figures["server_cpu_ms_per_call"]} ms |
| calls per second one Redis core serves (1 / CPU per call) | {figures["calls_per_s_per_redis_core"]} |

| command | times per call |
|---|---|
{rows}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.redis_ops", description=__doc__)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if redis_server_binary() is None:
        print("redis_ops: skipped (no redis-server: apt-get install redis-server)", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory(prefix="llminst-redis-ops-") as scratch:
        figures = trio.run(measure, args.calls, Path(scratch))
    figures["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    figures["machine"] = f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "redis_ops.json").write_text(json.dumps(figures, indent=2) + "\n")
    (args.out / "redis_ops.md").write_text(_markdown(figures))
    print(_markdown(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
