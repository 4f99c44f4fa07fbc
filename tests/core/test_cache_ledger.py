"""The pure parts of the cache, the ledger and budgets: keys, token shapes, costs, sums,
periods and the config's [budget] table."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import attrs
import pytest

from llminst import BUILTIN_MODELS
from llminst._core.budget import limits_for, period
from llminst._core.cache import DEFAULT_CACHE_TTL_S, cache_key, cache_ttl
from llminst._core.errors import ConfigError, InvalidInputError
from llminst._core.ledger import (
    Tokens,
    cost_of,
    parse_since,
    summarize,
    tokens_of,
    total_row,
)
from llminst._core.records import CallRecord, CallState
from llminst._core.request import build_request
from llminst._core.spec import BudgetSettings, ModelSpec
from llminst._core.userconfig import parse_config

from ..support.paths import FIXTURES

MODELS = dict(BUILTIN_MODELS)


def _key(**changes: object) -> str:
    arguments: dict[str, object] = {"model": "claude", "prompt": "p", **changes}
    models = arguments.pop("models", MODELS)
    cwd = arguments.pop("cwd", None)
    request = build_request(models, cwd=cwd, **arguments)  # type: ignore[arg-type]
    return cache_key(request)


def test_the_key_is_stable_and_each_part_changes_it() -> None:
    base = _key()
    assert base == _key() and len(base) == 64
    changed = {
        "model": _key(model="gemini"),
        "submodel": _key(model="claude:opus"),
        "prompt": _key(prompt="q"),
        "system prompt": _key(system_prompt="be brief"),
        "json schema": _key(json_mode=True),
        "another schema": _key(json_schema={"type": "object", "required": ["x"]}),
        "cwd": _key(cwd="/tmp"),
        "command": _key(
            models={**MODELS, "claude": attrs.evolve(MODELS["claude"], command=("claude2",))}
        ),
        "env": _key(models={**MODELS, "claude": attrs.evolve(MODELS["claude"], env={"X": "1"})}),
    }
    assert base not in changed.values()
    assert len(set(changed.values())) == len(changed)


def test_what_does_not_change_the_answer_does_not_change_the_key() -> None:
    assert _key() == _key(timeout=5) == _key(cli_streaming=True)


def test_which_calls_are_cached_and_for_how_long() -> None:
    plain = BUILTIN_MODELS["echo"]
    kept = attrs.evolve(plain, cache_ttl_s=60.0)
    assert cache_ttl(plain, None, session=None) is None
    assert cache_ttl(plain, True, session=None) == DEFAULT_CACHE_TTL_S
    assert cache_ttl(kept, None, session=None) == 60.0
    assert cache_ttl(kept, True, session=None) == 60.0
    assert cache_ttl(kept, False, session=None) is None
    assert cache_ttl(kept, None, session="s") is None  # a session's calls never are
    with pytest.raises(InvalidInputError, match="cannot be used with a session"):
        cache_ttl(plain, True, session="s")
    with pytest.raises(InvalidInputError, match="cache must be true or false"):
        cache_ttl(plain, "yes", session=None)


def _recorded_usage(folder: str, kind: str) -> dict[str, object]:
    """The last usage a recorded CLI output in tests/fixtures reports."""
    found: dict[str, object] = {}
    for path in sorted((FIXTURES / folder).rglob("*")):
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("type") == kind:
                usage = record.get("stats") or record.get("usage")
                if isinstance(usage, dict) and usage.get("input_tokens"):
                    found = usage
    assert found, f"no {kind} line with usage in fixtures/{folder}"
    return found


@pytest.mark.parametrize(
    ("folder", "kind", "cache_key_name", "reasoning_key"),
    [
        ("claude", "result", "cache_read_input_tokens", None),
        ("codex", "turn.completed", "cached_input_tokens", "reasoning_output_tokens"),
        ("gemini", "result", "cached", None),
    ],
)
def test_each_clis_recorded_usage_is_read_in_one_shape(
    folder: str, kind: str, cache_key_name: str, reasoning_key: str | None
) -> None:
    usage = _recorded_usage(folder, kind)
    tokens = tokens_of(usage)
    assert tokens.input == usage["input_tokens"]
    assert tokens.output == usage["output_tokens"]
    assert tokens.cache_read == usage.get(cache_key_name)
    if reasoning_key:
        assert tokens.reasoning == usage[reasoning_key]


def test_counts_that_were_not_reported_stay_unknown() -> None:
    assert tokens_of(None) == Tokens()
    assert tokens_of({"output_tokens": 8}) == Tokens(output=8)
    assert tokens_of({"input_tokens": "3", "output_tokens": -1, "cached": True}) == Tokens()
    claude = {"input_tokens": 1, "output_tokens_details": {"thinking_tokens": 4}}
    assert tokens_of(claude).reasoning == 4


def test_cost_is_the_clis_else_the_prices_else_unknown() -> None:
    spec = ModelSpec(name="m", command=("m",))
    priced = attrs.evolve(spec, price_in_per_mtok=3.0, price_out_per_mtok=15.0)
    usage = {"input_tokens": 1000, "output_tokens": 2000}
    assert cost_of(0.5, usage, priced) == (0.5, "cli")
    assert cost_of(None, usage, priced) == (pytest.approx(0.033), "prices")
    assert cost_of(None, usage, spec) == (None, None)
    assert cost_of(None, {"output_tokens": 5}, priced) == (None, None)  # never invented
    half = attrs.evolve(spec, price_in_per_mtok=3.0)
    assert cost_of(None, usage, half) == (None, None)


def _record(n: int, **fields: object) -> CallRecord:
    values: dict[str, object] = {
        "call_id": f"c{n}",
        "model": "m",
        "state": CallState.SUCCEEDED,
        "created_at": 1_700_000_000.0 + n,
        "attempts": 1,
        "result": {"duration_s": 1.5, "cached": False},
        **fields,
    }
    return CallRecord(**values)  # type: ignore[arg-type]


def test_summarize_sums_ended_calls_per_group_and_totals_them() -> None:
    records = [
        _record(1, usage={"input_tokens": 2, "output_tokens": 3}, cost_usd=0.5),
        _record(2, usage={"input_tokens": 5, "output_tokens": 1}, state=CallState.FAILED),
        _record(3, state=CallState.RUNNING, cost_usd=100.0),  # not ended: not counted
        _record(4, model="m", result={"model": "fb", "duration_s": 2.0}, cost_usd=0.25),
        _record(5, attempts=0, result={"cached": True, "duration_s": 0.001}, cost_usd=0.0),
        _record(0, created_at=10.0, cost_usd=9.0),  # before `since`
    ]
    rows = summarize(records, since=1_000_000_000.0)
    by_group = {row.group: row for row in rows}
    assert list(by_group) == ["fb", "m"]
    m = by_group["m"]
    assert (m.calls, m.failures, m.cached) == (3, 1, 1)
    assert (m.input_tokens, m.output_tokens, m.reasoning_tokens) == (7, 4, None)
    assert m.cost_usd == 0.5 and m.cost_unknown == 1  # the failed call had no cost
    assert m.time_s == pytest.approx(3.001)
    total = total_row(rows)
    assert total.calls == 4 and total.cost_usd == 0.75 and total.group == "total"
    with pytest.raises(InvalidInputError, match="group_by must be one of"):
        summarize(records, group_by="hour")


@pytest.mark.parametrize(
    ("text", "seconds_back"),
    [("30m", 1800), ("12h", 43200), ("7d", 604800), ("2w", 1209600), (" 1.5H ", 5400)],
)
def test_since_takes_spans(text: str, seconds_back: float) -> None:
    assert parse_since(text, now=1e9) == 1e9 - seconds_back


def test_since_takes_iso_dates_and_refuses_the_rest() -> None:
    assert parse_since(None, now=1.0) is None
    assert parse_since("2026-11-01", now=1.0) == datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    assert parse_since("2026-11-01T01:00:00+01:00", now=1.0) == parse_since("2026-11-01", now=1)
    with pytest.raises(InvalidInputError, match=r"neither a span \(30m, 12h, 7d, 2w\)"):
        parse_since("yesterday", now=1.0)


def test_budget_periods_are_utc_days_and_months() -> None:
    now = datetime(2026, 12, 31, 23, 59, tzinfo=UTC).timestamp()
    assert period("daily", now) == (
        datetime(2026, 12, 31, tzinfo=UTC).timestamp(),
        datetime(2027, 1, 1, tzinfo=UTC).timestamp(),
    )
    assert period("monthly", now) == (
        datetime(2026, 12, 1, tzinfo=UTC).timestamp(),
        datetime(2027, 1, 1, tzinfo=UTC).timestamp(),
    )
    feb = datetime(2026, 2, 10, tzinfo=UTC).timestamp()
    assert period("monthly", feb)[1] == datetime(2026, 3, 1, tzinfo=UTC).timestamp()


def test_the_limits_a_call_is_under() -> None:
    spec = attrs.evolve(BUILTIN_MODELS["echo"], budget_daily_usd=1.0)
    limits = limits_for(BudgetSettings(monthly_usd=50.0), spec)
    assert [(lim.scope, lim.limit_usd) for lim in limits] == [
        ("monthly", 50.0),
        ("echo daily", 1.0),
    ]
    assert limits_for(BudgetSettings(), BUILTIN_MODELS["echo"]) == []


def test_the_config_takes_a_budget_table_and_per_model_prices() -> None:
    config = parse_config(
        "[budget]\ndaily_usd = 5\nmonthly_usd = 100.5\n"
        "[models.claude]\nbudget_daily_usd = 1.0\ncache_ttl_s = 600\n"
        "[models.gemini]\nprice_in_per_mtok = 0.3\nprice_out_per_mtok = 2.5\n",
        source="t",
    )
    assert config.budget == BudgetSettings(daily_usd=5.0, monthly_usd=100.5)
    assert config.models["claude"].budget_daily_usd == 1.0
    assert config.models["claude"].cache_ttl_s == 600
    assert config.models["gemini"].price_out_per_mtok == 2.5
    for text, key in [
        ('[budget]\ndaily_usd = "5"\n', "budget.daily_usd"),
        ("[budget]\nweekly_usd = 5\n", "budget"),
        ("[budget]\ndaily_usd = -1\n", "budget.daily_usd"),
        ("[models.claude]\ncache_ttl_s = 0\n", "models.claude.cache_ttl_s"),
    ]:
        with pytest.raises(ConfigError) as info:
            parse_config(text, source="t")
        assert info.value.key == key, text
