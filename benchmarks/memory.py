"""Memory bookkeeping's cost: small calls with memory admission and tree sampling on and off.

This section owns one comparison, in one run, interleaved in shuffled rounds: the same
answer-at-once stand-in called through `Supervisor.run` with the default settings (each call
admitted by available memory, its process tree sampled from /proc) and with
``memory_admission = false`` (neither), beside the raw floor. Bookkeeping cost =
median(on) - median(off); the ratio on/off says whether it is measurable at all.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from llminst import open_supervisor

from .common import Context, model, raw_call, settings, table
from .stats import ratio, summarize

TITLE = "Memory bookkeeping on small calls"


async def run(ctx: Context) -> dict[str, Any]:
    ok = ctx.standin.argv("ok")
    specs = {"bench-ok": model("bench-ok", ok)}
    rounds, per_round, warmup = ctx.pick((30, 20, 10), (2, 5, 2))
    async with (
        open_supervisor(models=specs, settings=settings()) as measured,
        open_supervisor(models=specs, settings=settings(memory_admission=False)) as unmeasured,
    ):
        methods: dict[str, Callable[[], Awaitable[Any]]] = {
            "raw": lambda: raw_call([*ok, "x"]),
            "api-memory-on": lambda: measured.run("bench-ok", "x", timeout=60),
            "api-memory-off": lambda: unmeasured.run("bench-ok", "x", timeout=60),
        }
        for call in methods.values():
            for _ in range(warmup):
                await call()
        timings: dict[str, list[float]] = {name: [] for name in methods}
        order = list(methods)
        rng = random.Random(14)
        for _ in range(rounds):
            rng.shuffle(order)
            for name in order:
                for _ in range(per_round):
                    start = time.perf_counter()
                    await methods[name]()
                    timings[name].append((time.perf_counter() - start) * 1000)
        peak = (await measured.run("bench-ok", "x", timeout=60)).peak_rss_mb
    return _report(timings, peak)


def _report(timings: dict[str, list[float]], peak_mb: float | None) -> dict[str, Any]:
    stats = {name: summarize(values) for name, values in timings.items()}
    off = stats["api-memory-off"]["median"]
    rows = [
        [name, s["n"], s["median"], s["p95"], s["median"] - off, ratio(s["median"], off)]
        for name, s in stats.items()
    ]
    return {
        "title": TITLE,
        "about": (
            "Wall time of one whole call (ms) on a stand-in that answers at once, through "
            "Supervisor.run with memory admission and process-tree sampling on (the default) "
            "and off (memory_admission = false), interleaved in the same run; `vs off` = "
            f"median - median of api-memory-off. Measured peak of one call: {peak_mb} MB."
        ),
        "tables": [
            table(["method", "n", "median ms", "p95 ms", "vs off ms", "x off"], rows),
        ],
        "data": {"methods": stats, "peak_rss_mb": peak_mb},
    }
