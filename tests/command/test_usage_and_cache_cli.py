"""`llminst usage`, `llminst cache clear`, `run --cache` and budgets, as a user runs them: each
command a process of its own, sharing the SQLite store next to the test's config file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ..support.billing import billing_cli, usage_for
from ..support.config import write_config
from ..support.counting import spawns
from ..support.paths import LLMINST


def _llminst(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LLMINST, "--log-level", "warning", *argv], capture_output=True, text=True, timeout=120
    )


def test_usage_prints_a_table_with_a_total_or_json(tmp_path: Path) -> None:
    store = str(tmp_path / "empty.sqlite3")
    table = _llminst("usage", "--since", "7d", "--store", store)
    as_json = _llminst("usage", "--by", "day", "--json", "--store", store)
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
    result = _llminst("cache", "clear", "--store", "memory")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "cleared 0 cached answers\n"
    bare = _llminst("cache")
    assert bare.returncode == 2 and "clear" in bare.stderr


def _paid_config(tmp_path: Path, **fields: object) -> Path:
    paid = billing_cli(tmp_path, "paid", cost_usd=0.5)
    table = {
        "command": list(paid.command),
        "prompt_separator": "--",
        "output_format": "claude-stream-json",
        "env": dict(paid.env),
        **fields,
    }
    return write_config(tmp_path / "c.toml", models={"paid": table})


def test_run_cache_answers_a_later_run_without_a_process_and_usage_counts_it(
    tmp_path: Path,
) -> None:
    config = str(_paid_config(tmp_path))
    runs = [_llminst("--config", config, "run", "paid", "hello", "--cache") for _ in range(2)]
    assert [r.stdout for r in runs] == ["paid: hello\n"] * 2, [r.stderr for r in runs]
    assert spawns(tmp_path, "paid") == 1
    ledger = _llminst("--config", config, "usage", "--json")
    (row,) = json.loads(ledger.stdout)["rows"]
    assert (row["group"], row["calls"], row["cached"], row["cost_usd"]) == ("paid", 2, 1, 0.5)
    assert row["input_tokens"] == usage_for("hello")["input_tokens"]
    table = _llminst("--config", config, "usage").stdout.splitlines()
    assert table[1].split()[:4] == ["paid", "2", "0", "1"] and table[2].startswith("total")
    cleared = _llminst("--config", config, "cache", "clear")
    assert cleared.stdout == "cleared 1 cached answer\n", cleared.stderr
    again = _llminst("--config", config, "run", "paid", "hello", "--cache")
    assert again.returncode == 0 and spawns(tmp_path, "paid") == 2


def test_a_budget_spent_by_earlier_runs_refuses_the_next_before_its_cli_starts(
    tmp_path: Path,
) -> None:
    """Each run costs $0.50; the model may spend $1 a day: the third run starts nothing."""
    config = str(_paid_config(tmp_path, budget_daily_usd=1.0))
    for prompt in ("one", "two"):
        ran = _llminst("--config", config, "run", "paid", prompt)
        assert ran.returncode == 0 and ran.stdout == f"paid: {prompt}\n", ran.stderr
    refused = _llminst("--config", config, "run", "paid", "three")
    assert refused.returncode == 1 and refused.stdout == ""
    assert "llminst: budget_exceeded: the paid daily budget is spent: $1.0000 of $1.0000" in (
        refused.stderr
    )
    assert "Traceback" not in refused.stderr
    assert spawns(tmp_path, "paid") == 2


def test_a_zero_budget_table_refuses_every_model(tmp_path: Path) -> None:
    config = write_config(tmp_path / "b.toml", budget={"daily_usd": 0.0})
    refused = _llminst("--config", str(config), "run", "echo", "hi")
    assert refused.returncode == 1 and refused.stdout == ""
    assert "budget_exceeded: the daily budget is spent: $0.0000 of $0.0000" in refused.stderr
