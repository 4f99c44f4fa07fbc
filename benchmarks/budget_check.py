"""`python -m benchmarks.budget_check [--calls N] [--reads R] [--out DIR]`: what a budget check
reads from the store when the month already holds N calls.

It fills a Redis store (a redis-server of its own on 127.0.0.1) and a SQLite file with N ended,
priced calls of the current UTC month, then times R reads of what a budget check needs:
the running totals (`CallStore.period_spend`, what `supervisor.budgets` reads now) and, for
comparison, the ledger scan it used to read (`usage_summary(since=month start)`: every call id
of the month, then each record). It writes ``budget_check.md`` and ``budget_check.json`` into
the output folder (default ``benchmarks/results``).

What it must never do: bind anything but loopback, or leave the server running.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from llminst._core.budget import period
from llminst._core.records import CallRecord, CallState
from llminst.store import CallStore, open_store

from .redis_server import open_redis_server, redis_server_binary

__all__ = ["main", "measure"]

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
_MODELS = ("claude:sonnet", "claude:haiku", "gemini", "codex")


def _calls(count: int, now: float) -> list[CallRecord]:
    """`count` ended, priced calls spread over the month so far."""
    start, _ = period("monthly", now)
    step = max(now - start, 1.0) / (count + 1)
    return [
        CallRecord(
            call_id=f"bench-{n}",
            model=_MODELS[n % len(_MODELS)],
            state=CallState.SUCCEEDED,
            created_at=start + (n + 1) * step,
            attempts=1,
            cost_usd=0.001,
            usage={"input_tokens": 10, "output_tokens": 20},
            result={"model": _MODELS[n % len(_MODELS)], "cached": False, "duration_s": 1.0},
        )
        for n in range(count)
    ]


async def _fill(store: CallStore, calls: list[CallRecord]) -> None:
    for call in calls:
        await store.add_call(call)


async def _median_ms(read: Callable[[], Awaitable[Any]], reads: int) -> float:
    await read()  # warm: connection open, pages cached
    times = []
    for _ in range(reads):
        started = time.perf_counter()
        await read()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 3)


async def _time_store(store: CallStore, start: float, reads: int) -> dict[str, float]:
    totals = await _median_ms(lambda: store.period_spend("monthly", start=start), reads)
    scan = await _median_ms(lambda: store.usage_summary(since=start), reads)
    return {"totals_ms": totals, "scan_ms": scan}


async def measure(calls: int, reads: int, scratch: Path) -> dict[str, Any]:
    """Fill both stores with `calls` calls of this month; the median read times of each."""
    now = time.time()
    start, _ = period("monthly", now)
    records = _calls(calls, now)
    figures: dict[str, Any] = {"calls": calls, "reads": reads}
    async with open_redis_server(scratch / "redis") as url, open_store(url) as redis_store:
        await _fill(redis_store, records)
        figures["redis"] = await _time_store(redis_store, start, reads)
        spent = await redis_store.period_spend("monthly", start=start)
    async with open_store(scratch / "calls.sqlite3") as sqlite_store:
        await _fill(sqlite_store, records)
        figures["sqlite"] = await _time_store(sqlite_store, start, reads)
    figures["spent_usd"] = round(sum(s.cost_usd for s in spent), 6)
    return figures


def _markdown(figures: dict[str, Any]) -> str:
    redis, sqlite = figures["redis"], figures["sqlite"]
    return f"""# What a budget check reads with {figures["calls"]} calls in the month

Produced by `python -m benchmarks.budget_check --calls {figures["calls"]} --reads {figures["reads"]}`
on {figures["date"]}
({figures["machine"]}): the median of {figures["reads"]} reads of one month's spend, with
{figures["calls"]} ended calls already in it, from a redis-server of its own on 127.0.0.1 and
from a SQLite file.

| store | running totals (`period_spend`, read now) | ledger scan (`usage_summary`, read before) |
|---|---|---|
| Redis | {redis["totals_ms"]} ms | {redis["scan_ms"]} ms |
| SQLite | {sqlite["totals_ms"]} ms (indexed query + sums) | {sqlite["scan_ms"]} ms |
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.budget_check", description=__doc__)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if redis_server_binary() is None:
        print("budget_check: skipped (no redis-server)", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory(prefix="llminst-budget-check-") as scratch:
        figures = trio.run(measure, args.calls, args.reads, Path(scratch))
    figures["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    figures["machine"] = f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "budget_check.json").write_text(json.dumps(figures, indent=2) + "\n")
    (args.out / "budget_check.md").write_text(_markdown(figures))
    print(_markdown(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
