"""`python -m benchmarks.redis_ops`: the Redis side of a call, read from a real redis-server."""

from __future__ import annotations

from pathlib import Path

from benchmarks.redis_ops import main, measure


async def test_a_call_costs_the_server_a_few_scripts_and_some_cpu(tmp_path: Path) -> None:
    figures = await measure(5, tmp_path / "scratch")
    commands = figures["commands_per_call"]
    # Recording a call is Lua scripts (add, running, output, final; the last two pipelined,
    # sent whole with EVAL) plus the per-call reads: never zero, never the dozens of round trips
    # a command-per-field store would make.
    assert 3 <= figures["scripts_per_call"] <= 8, commands
    assert commands.get("eval", 0) >= 1, commands  # the pipelined writes
    assert 3 <= figures["commands_sent_per_call"] <= 10, figures
    assert commands["xadd"] >= 1  # the output went to the call's stream
    assert figures["server_cpu_ms_per_call"] >= 0


def test_the_script_writes_its_results_files(tmp_path: Path) -> None:
    assert main(["--calls", "3", "--out", str(tmp_path)]) == 0
    assert "calls per second one Redis core serves" in (tmp_path / "redis_ops.md").read_text()
    assert (tmp_path / "redis_ops.json").exists()
