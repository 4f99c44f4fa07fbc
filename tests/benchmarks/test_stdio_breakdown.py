"""The MCP stdio breakdown (benchmarks.stdio_breakdown) runs end to end against a real server."""

from __future__ import annotations

import json
import subprocess
import sys

from ..support.paths import ROOT


def test_the_stdio_breakdown_times_every_layer_of_a_real_call() -> None:
    """Every segment of an execute_llm call over stdio is measured, and the server spends one
    task and no log line on a call."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.stdio_breakdown", "--calls", "5", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["calls"] == 5
    walls = {row["segment"]: row["wall_ms"] for row in result["segments"]}
    assert all(wall is not None and wall >= 0 for wall in walls.values()), walls
    assert 0 < walls["the call (Supervisor.run)"] < walls["whole call"]
    per_call = result["per_call"]
    assert per_call["server_tasks_spawned"] == 1  # the SDK's handler task, nothing of ours
    assert per_call["client_tasks_spawned"] == 0
    assert per_call["server_log_lines"] == 0
    assert per_call["server_cpu_ms"] > 0 and per_call["client_cpu_ms"] > 0
