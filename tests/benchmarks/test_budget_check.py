"""`python -m benchmarks.budget_check`: a budget check's read with a month of calls, timed on a
real redis-server and a real SQLite file."""

from __future__ import annotations

from pathlib import Path

from benchmarks.budget_check import main, measure


async def test_both_reads_are_timed_on_both_stores_and_the_totals_sum_the_calls(
    tmp_path: Path,
) -> None:
    figures = await measure(40, 3, tmp_path / "scratch")
    assert figures["spent_usd"] == 0.04  # 40 calls at $0.001: the totals hold every one
    for store in ("redis", "sqlite"):
        assert figures[store]["totals_ms"] > 0 and figures[store]["scan_ms"] > 0


def test_the_script_writes_its_results_files(tmp_path: Path) -> None:
    assert main(["--calls", "5", "--reads", "2", "--out", str(tmp_path)]) == 0
    assert "running totals" in (tmp_path / "budget_check.md").read_text()
    assert (tmp_path / "budget_check.json").exists()
