"""Cancellation: time from a call's deadline to its whole process tree reaped.

This section owns the kill-path measurement. The stand-in forks a child, prints both PIDs and
sleeps forever, either obeying SIGTERM or ignoring it (then only SIGKILL, after the grace
period, ends it). ``api-*``: `Supervisor.open_stream` with `timeout=DEADLINE`; the time is from
the call's deadline to the end of the stream (the supervisor closes it only after the tree is
reaped). ``raw-*``: the same by hand: at the deadline `killpg(SIGTERM)`, wait up to the grace
period, `killpg(SIGKILL)`, wait, and poll until the child is gone. After every call both PIDs
are checked: a live process (zombies count as gone) fails the section.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from typing import Any

import trio

from llminst import CallTimeoutError, Supervisor, open_supervisor

from .common import Context, is_alive, kill_quietly, model, settings, table
from .stats import ratio, summarize

TITLE = "Cancellation"
DEADLINE_S = 0.2
GRACE_S = 0.5


async def _api(supervisor: Supervisor, name: str) -> tuple[float, list[int]]:
    pids: list[int] = []
    text = ""
    start = trio.current_time()
    try:
        async with supervisor.open_stream(name, "x", timeout=DEADLINE_S) as stream:
            async for chunk in stream:
                text += chunk
                if "\n" in text and not pids:
                    pids = [int(p) for p in text.split()]
            await stream.wait()
    except CallTimeoutError:
        pass
    else:
        raise RuntimeError(f"{name}: the call ended without timing out")
    return (trio.current_time() - (start + DEADLINE_S)) * 1000, pids


async def _wait_dead(pids: Sequence[int]) -> None:
    while any(is_alive(pid) for pid in pids):  # noqa: ASYNC110 - no event tells us
        await trio.sleep(0.0005)


async def _raw(argv: Sequence[str]) -> tuple[float, list[int]]:
    start = trio.current_time()
    proc = await trio.lowlevel.open_process(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert proc.stdout is not None
    line = b""
    while not line.endswith(b"\n"):
        line += await proc.stdout.receive_some(256)
    pids = [int(p) for p in line.split()]
    deadline = start + DEADLINE_S
    await trio.sleep_until(deadline)
    os.killpg(proc.pid, signal.SIGTERM)
    with trio.move_on_after(GRACE_S):
        await proc.wait()
    if proc.returncode is None:
        os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
    await _wait_dead(pids)
    await proc.stdout.aclose()
    return (trio.current_time() - deadline) * 1000, pids


async def run(ctx: Context) -> dict[str, Any]:
    reps = {"obey": ctx.pick(50, 3), "ignore": ctx.pick(8, 1)}
    argv = {how: ctx.standin.argv("tree", how) for how in reps}
    specs = {f"bench-{how}": model(f"bench-{how}", argv[how]) for how in reps}
    samples: dict[str, list[float]] = {}
    survivors: list[int] = []
    async with open_supervisor(models=specs, settings=settings(grace_period_s=GRACE_S)) as sup:
        for how, count in reps.items():
            samples[f"raw-{how}"], samples[f"api-{how}"] = [], []
            for _ in range(count):
                for method in ("raw", "api"):
                    if method == "raw":
                        took, pids = await _raw([*argv[how], "x"])
                    else:
                        took, pids = await _api(sup, f"bench-{how}")
                    if len(pids) != 2:
                        raise RuntimeError(f"{method}-{how}: the stand-in's PIDs never arrived")
                    survivors += [pid for pid in pids if is_alive(pid)]
                    samples[f"{method}-{how}"].append(took)
    if survivors:
        kill_quietly(survivors)
        raise RuntimeError(f"processes outlived their call: {survivors}")
    stats = {name: summarize(values) for name, values in samples.items()}
    for name, s in stats.items():
        s["ratio"] = ratio(s["median"], stats["raw-" + name.split("-", 1)[1]]["median"])
    rows = [
        [name, s["n"], s["median"], s["p95"], s["max"], s["ratio"]] for name, s in stats.items()
    ]
    return {
        "title": TITLE,
        "about": (
            f"Milliseconds from the deadline ({DEADLINE_S:g} s after the call started) to the "
            f"stand-in and its child both gone; grace period (SIGTERM -> SIGKILL) "
            f"{GRACE_S:g} s, so a TERM-ignoring tree cannot end before {GRACE_S * 1000:g} ms. "
            "Every tree was verified gone after its call (zombies under PID 1 count as gone)."
        ),
        "tables": [
            table(["call", "n", "median ms", "p95 ms", "max ms", "x raw"], rows),
        ],
        "data": {**stats, "grace_s": GRACE_S, "deadline_s": DEADLINE_S},
    }
