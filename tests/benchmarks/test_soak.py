"""The soak benchmark (`python -m benchmarks.soak`): a smoke run, and its verdict and leftover
checks, which must be able to fail."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Sequence

import pytest
import trio
from benchmarks.procs import descendants, processes_with_env
from benchmarks.soak import MARKER_VAR, Sample, judge

from ..support.paths import ROOT


@pytest.mark.slow
def test_soak_smoke(report: Callable[..., None]) -> None:
    """`python -m benchmarks.soak --duration 10` passes: right answers, flat RSS, descriptors
    back to baseline and no process left."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", "--duration", "10"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    summary = result.stdout.strip()
    report(summary, soak_summary=summary)
    assert result.returncode == 0, f"{summary}\n{result.stderr[-3000:]}"
    assert "soak: PASS" in summary
    calls = re.search(r"soak: (\d+) calls", summary)
    assert calls and int(calls.group(1)) >= 50, summary


# --------------------------------------------------------------------------------------------
# The soak's verdict can fail


def _samples(rss_mb: Sequence[float], fds: int = 20) -> list[Sample]:
    return [Sample(t=i, rss_kb=int(mb * 1024), fds=fds, threads=4) for i, mb in enumerate(rss_mb)]


def test_soak_verdict_accepts_a_flat_run() -> None:
    """Warm-up growth, noise and a lower end are all flat."""
    rss = [60, 70, 75, 76, 79, 77, 78, 80, 76, 77, 79, 78, 77, 76, 78]
    assert judge(_samples(rss), baseline_fds=12, idle_fds=12) == []


def test_soak_verdict_rejects_growth_descriptors_leftovers_and_wrong_answers() -> None:
    """Steady RSS growth, descriptors not back, a process left, a wrong answer: each fails."""
    growing = [80 + 2 * i for i in range(30)]  # 2 MB/s
    problems = judge(
        _samples(growing), baseline_fds=12, idle_fds=14, leftovers=["4242 (S)"], wrong=1
    )
    assert len(problems) == 4, problems
    assert any(p.startswith("RSS grew") for p in problems)
    assert any("descriptors" in p for p in problems)
    assert any("4242" in p for p in problems)
    assert any("wrong" in p for p in problems)
    assert judge(_samples([80, 81]), baseline_fds=1, idle_fds=1)  # too short to judge


async def test_soak_finds_leftover_processes_by_marker_and_parent() -> None:
    """The leftover checks see live processes carrying the marker, and the children of one."""
    marker = uuid.uuid4().hex
    proc = await trio.lowlevel.open_process(
        ["/bin/sh", "-c", "sleep 30 & wait"],
        env={**os.environ, MARKER_VAR: marker},
        start_new_session=True,
    )
    try:
        with trio.fail_after(5):
            while len(processes_with_env(MARKER_VAR, marker)) < 2:  # noqa: ASYNC110
                await trio.sleep(0.01)
        (child,) = [pid for pid, _ in descendants(proc.pid)]
        assert processes_with_env(MARKER_VAR, marker, exclude=[proc.pid]) == [child]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
    with trio.fail_after(5):
        while processes_with_env(MARKER_VAR, marker):  # noqa: ASYNC110
            await trio.sleep(0.01)
