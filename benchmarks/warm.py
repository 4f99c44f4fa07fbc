"""Warm processes: time to first text of a call that takes a warm process, against a cold one.

This section owns the warm-vs-cold measurement. The stand-in is a claude that speaks stream-json
both ways (``tests/support/fake_streamjson.py``) and spends ``START_S`` seconds starting before
it reads stdin, as the real CLI spends ~0.5-0.9 s. Through the library (`open_stream` with the
CLI's streaming flag), each sample is the time from asking for the call to its first text chunk:
cold with ``warm = 0``; warm with ``warm = 1`` once the pool's process waits (the wait for the
refill is not counted). The goal: warm <= 25% of cold.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import attrs
import trio

from llminst import BUILTIN_MODELS, Supervisor, open_supervisor

from .common import ROOT, Context, table
from .stats import ratio, summarize

TITLE = "Warm processes: time to first text"
START_S = 0.8
STANDIN = ROOT / "tests" / "support" / "fake_streamjson.py"


def _spec(warm: int) -> Any:
    claude = BUILTIN_MODELS["claude"]
    return attrs.evolve(
        claude,
        name="standin",
        command=(sys.executable, str(STANDIN), *claude.command[1:]),
        env={"FAKE_STREAMJSON_START_S": str(START_S)},
        credential_env=(),
        version_command=None,
        warm=warm,
    )


async def _first_text_ms(sup: Supervisor) -> float:
    started = time.perf_counter()
    first = None
    async with sup.open_stream("standin", "one two three") as stream:
        async for _chunk in stream:
            if first is None:
                first = time.perf_counter()
    if first is None or stream.result is None or not stream.result.success:
        raise RuntimeError("the stand-in gave no text")
    return (first - started) * 1000


async def _wait_ready(sup: Supervisor) -> None:
    with trio.fail_after(60):
        while not sup.warm_ready("standin"):  # noqa: ASYNC110 (a process, not a task)
            await trio.sleep(0.01)


async def run(ctx: Context) -> dict[str, Any]:
    reps = ctx.pick(9, 2)
    samples: dict[str, list[float]] = {"cold": [], "warm": []}
    async with open_supervisor(models={"standin": _spec(0)}) as sup:
        for _ in range(reps):
            samples["cold"].append(await _first_text_ms(sup))
    async with open_supervisor(models={"standin": _spec(1)}) as sup:
        await _first_text_ms(sup)  # cold: it tells the pool which launch to keep warm
        for _ in range(reps):
            await _wait_ready(sup)
            samples["warm"].append(await _first_text_ms(sup))
    stats = {name: summarize(values) for name, values in samples.items()}
    share = ratio(stats["warm"]["median"], stats["cold"]["median"])
    rows = [[name, s["n"], s["median"], s["p95"], s["max"]] for name, s in stats.items()]
    return {
        "title": TITLE,
        "about": (
            f"Milliseconds from asking for a streamed call to its first text chunk, on a "
            f"stand-in claude (stream-json input and output) that spends {START_S} s starting. "
            f"Warm: warm = 1, the pool's process waiting. Warm / cold (median): {share:.3f}."
        ),
        "tables": [table(["launch", "n", "median ms", "p95 ms", "max ms"], rows)],
        "data": {**stats, "ratio": share, "start_s": START_S},
    }
