"""Concurrency scaling: N concurrent sleep-then-answer calls through the Python API vs raw trio.

This section owns the scaling measurement. For each N (1, 10, 100, 1000), N calls of a stand-in
that sleeps one second and answers start at once in one nursery: ``api`` through
`Supervisor.run` (the model's concurrency limit raised above N), ``raw`` as N tasks doing
`open_process` + read + wait. Per run: wall time (first start to last reaped), CPU time of this
process and of its reaped children (`resource.getrusage`), peak RSS (VmHWM, reset before each
run) and RSS per call ((peak - RSS before) / N). Each run is a fresh Python process (this
module run as a worker) so memory figures are not hidden by an earlier run's heap; runs of api
and raw alternate.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from llminst import open_supervisor

from .common import ROOT, Context, model, raw_call, reset_peak_rss, rss_kb, settings, table
from .stats import ratio, summarize

TITLE = "Concurrency scaling"


def _cpu() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


async def _measure(n: int, one: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    gc.collect()
    peak_resettable = reset_peak_rss()
    before_kb = rss_kb()
    peak_kb = before_kb

    async def sample() -> None:  # only where VmHWM cannot be reset
        nonlocal peak_kb
        while True:
            peak_kb = max(peak_kb, rss_kb())
            await trio.sleep(0.01)

    cpu_self, cpu_kids = _cpu()
    start = time.perf_counter()
    async with trio.open_nursery() as outer:
        if not peak_resettable:
            outer.start_soon(sample)
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(one)
        wall = time.perf_counter() - start
        outer.cancel_scope.cancel()
    now_self, now_kids = _cpu()
    if peak_resettable:
        peak_kb = rss_kb(field="VmHWM")
    return {
        "wall_s": wall,
        "cpu_self_s": now_self - cpu_self,
        "cpu_children_s": now_kids - cpu_kids,
        "peak_rss_mb": peak_kb / 1024,
        "rss_per_call_kb": (peak_kb - before_kb) / n,
    }


async def _worker(method: str, n: int, argv: list[str]) -> dict[str, float]:
    """One run in this (fresh) process, after a warm-up call, so memory figures are its own."""
    specs = {"bench-sleep": model("bench-sleep", argv)}
    async with open_supervisor(models=specs, settings=settings()) as supervisor:

        async def api() -> None:
            result = await supervisor.run("bench-sleep", "x", timeout=300)
            assert result.output == "ok\n", result

        async def raw() -> None:
            assert await raw_call([*argv, "x"]) == b"ok\n"

        one = api if method == "api" else raw
        await one()
        return await _measure(n, one)


async def _spawn_worker(method: str, n: int, argv: list[str]) -> dict[str, float]:
    done = await trio.run_process(
        [sys.executable, "-m", "benchmarks.concurrency", method, str(n), json.dumps(argv)],
        capture_stdout=True,
        cwd=ROOT,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


async def run(ctx: Context) -> dict[str, Any]:
    call_s, levels, reps = ctx.pick((1.0, [1, 10, 100, 1000], 5), (0.25, [1, 10], 1))
    argv = ctx.standin.argv("sleep", call_s)
    out: list[dict[str, Any]] = []
    for n in levels:
        runs: dict[str, list[dict[str, float]]] = {"api": [], "raw": []}
        for _ in range(reps):
            for method in ("raw", "api"):
                runs[method].append(await _spawn_worker(method, n, argv))
        row: dict[str, Any] = {"n": n, "call_s": call_s}
        for method, measured in runs.items():
            row[method] = {key: summarize([m[key] for m in measured]) for key in measured[0]}
        row["wall_ratio"] = ratio(row["api"]["wall_s"]["median"], row["raw"]["wall_s"]["median"])
        out.append(row)
    return {
        "title": TITLE,
        "about": (
            f"N concurrent calls of a stand-in that sleeps {call_s:g} s; medians of {reps} "
            "run(s) each, every run in a fresh Python process (after one warm-up call), api and "
            "raw alternating. CPU = user + system seconds of that process (children: the "
            "stand-ins). RSS per call = (peak RSS - RSS before the run) / N."
        ),
        "tables": [table(*_rows(out))],
        "data": {"levels": out, "runs_per_level": reps},
    }


def _rows(levels: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    columns = [
        "N",
        "method",
        "wall s (median)",
        "wall s (max)",
        "x raw wall",
        "CPU s (self)",
        "CPU s (children)",
        "peak RSS MB",
        "RSS per call kB",
    ]
    rows = []
    for level in levels:
        for method in ("raw", "api"):
            m = level[method]
            rows.append(
                [
                    level["n"],
                    method,
                    m["wall_s"]["median"],
                    m["wall_s"]["max"],
                    ratio(m["wall_s"]["median"], level["raw"]["wall_s"]["median"]),
                    m["cpu_self_s"]["median"],
                    m["cpu_children_s"]["median"],
                    m["peak_rss_mb"]["median"],
                    m["rss_per_call_kb"]["median"],
                ]
            )
    return columns, rows


if __name__ == "__main__":
    # A worker: python -m benchmarks.concurrency METHOD N ARGV_JSON -> one run's figures as JSON.
    method_, n_, argv_ = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    print(json.dumps(trio.run(_worker, method_, n_, argv_)))
