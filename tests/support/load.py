"""A loaded machine, for tests of promises that must hold when the cores are busy.

`busy_cores()` starts one CPU hog (``python -c "while True: pass"``) per core, 2 to 4 of them,
and kills and reaps them when its block ends. The `machine_load` fixture runs a test twice:
``idle`` and ``busy`` (the hogs run for that one test; the busy run is marked slow). Modules
import the fixture by name.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

HOG = "while True: pass"


def hog_count() -> int:
    """One hog per core, at least 2 (a 1-core runner still gets contention), at most 4."""
    return max(2, min(4, os.cpu_count() or 2))


@contextmanager
def busy_cores(count: int | None = None) -> Iterator[list[int]]:
    """Keep `count` (default `hog_count()`) CPU hogs running for the block; yields their PIDs."""
    hogs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count or hog_count()):
            hogs.append(subprocess.Popen([sys.executable, "-c", HOG], stdin=subprocess.DEVNULL))
        yield [hog.pid for hog in hogs]
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


@pytest.fixture(params=["idle", pytest.param("busy", marks=pytest.mark.slow)])
def machine_load(request: pytest.FixtureRequest) -> Iterator[str]:
    """``idle``, then ``busy``: every core spinning a CPU hog for the whole test."""
    if request.param == "idle":
        yield "idle"
        return
    with busy_cores():
        yield "busy"
