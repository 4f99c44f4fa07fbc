"""Smoke runs of the benchmark scripts (tiny counts): they run end to end and print a figure."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_progress_latency_benchmark_runs() -> None:
    """benchmarks.progress_latency measures chunk -> notification latency over a real stdio server."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.progress_latency", "--calls", "1", "--lines", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    match = re.search(r"n=(\d+) median=([\d.]+) ms", result.stdout)
    assert match and int(match.group(1)) == 3, result.stdout
    assert float(match.group(2)) < 1000
