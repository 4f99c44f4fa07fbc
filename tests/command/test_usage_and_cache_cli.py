"""`llminst usage`, `llminst cache clear`, `run --cache` and budgets, as a user runs them.

Until a store on disk is wired to the command line (branch store), each command has a store of
its own, so these check what one process can: the table's and the JSON's forms, bad input,
the cache flag, and a spent budget refusing a call before its CLI starts.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ..support.billing import billing_cli
from ..support.config import write_config
from ..support.counting import spawns
from ..support.paths import LLMINST


def _llminst(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LLMINST, "--log-level", "warning", *argv], capture_output=True, text=True, timeout=120
    )


def test_usage_prints_a_table_with_a_total_or_json() -> None:
    table = _llminst("usage", "--since", "7d")
    as_json = _llminst("usage", "--by", "day", "--json")
    assert table.returncode == as_json.returncode == 0, table.stderr + as_json.stderr
    header, total = table.stdout.splitlines()
    assert header.split() == [
        "MODEL",
        "CALLS",
        "FAILED",
        "CACHED",
        "IN",
        "OUT",
        "CACHE_R",
        "CACHE_W",
        "REASON",
        "COST_USD",
        "TIME_S",
    ]
    assert total.split()[:2] == ["total", "0"]
    document = json.loads(as_json.stdout)
    assert document["group_by"] == "day" and document["rows"] == []
    assert document["total"]["calls"] == 0


def test_usage_refuses_a_bad_since_or_by() -> None:
    since = _llminst("usage", "--since", "fortnight")
    by = _llminst("usage", "--by", "hour")
    assert since.returncode == 2 and since.stdout == ""
    assert "llminst: invalid_input: since 'fortnight' is neither a span" in since.stderr
    assert by.returncode == 2 and "invalid choice: 'hour'" in by.stderr
    assert "Traceback" not in since.stderr + by.stderr


def test_cache_clear_says_how_many_it_forgot() -> None:
    result = _llminst("cache", "clear")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "cleared 0 cached answers\n"
    bare = _llminst("cache")
    assert bare.returncode == 2 and "clear" in bare.stderr


def test_run_with_cache_answers_on_stdout_alone() -> None:
    result = _llminst("run", "echo", "cache me", "--cache")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "cache me\n"


def test_a_spent_budget_refuses_run_before_its_cli_starts(tmp_path: Path) -> None:
    paid = billing_cli(tmp_path, "paid", cost_usd=1.0)
    fields = {
        "command": list(paid.command),
        "prompt_separator": "--",
        "output_format": "claude-stream-json",
        "env": dict(paid.env),
        "budget_daily_usd": 0.0,
    }
    config = write_config(tmp_path / "c.toml", models={"paid": fields})
    refused = _llminst("--config", str(config), "run", "paid", "hello")
    assert refused.returncode == 1 and refused.stdout == ""
    assert "llminst: budget_exceeded: the paid daily budget is spent: $0.0000 of $0.0000" in (
        refused.stderr
    )
    assert spawns(tmp_path, "paid") == 0
    allowed = write_config(
        tmp_path / "ok.toml",
        models={"paid": {**fields, "budget_daily_usd": 5.0}},
        budget={"monthly_usd": 10.0},
    )
    ran = _llminst("--config", str(allowed), "run", "paid", "hello")
    assert ran.returncode == 0 and ran.stdout == "paid: hello\n", ran.stderr
    assert spawns(tmp_path, "paid") == 1
