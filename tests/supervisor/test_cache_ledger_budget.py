"""The response cache, the usage ledger and budgets through the library, with real processes:
a CLI that reports claude-style usage and cost (`support.billing`) and counts its starts, so a
test proves that a cached answer or a refused call started nothing."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from llminst import open_supervisor
from llminst._core.errors import BudgetExceededError, InvalidInputError, ProcessFailedError
from llminst._core.events import TextDelta
from llminst._core.spec import BudgetSettings
from llminst.store import MemoryStore

from ..support.billing import billing_cli, usage_for
from ..support.counting import SpecMaker, spawns
from ..support.models import models_with


async def test_a_cached_call_answers_without_a_process_with_the_first_calls_id(
    tmp_path: Path,
) -> None:
    paid = billing_cli(tmp_path, "paid", cost_usd=0.25)
    async with open_supervisor(models=models_with(paid)) as supervisor:
        first = await supervisor.run("paid", "hello", cache=True)
        second = await supervisor.run("paid", "hello", cache=True)
        await supervisor.flushed()
        calls = await supervisor.store.list_calls()
    assert spawns(tmp_path, "paid") == 1
    assert first.cached is False and first.cost_usd == 0.25 and first.cost_source == "cli"
    assert second.output == first.output == "paid: hello"
    assert second.cached is True and second.attempts == 0 and second.exit_code is None
    assert second.cost_usd == 0.0 and second.usage is None
    first_id = next(c.call_id for c in calls if c.result and not c.result["cached"])
    assert second.cached_call_id == first_id


async def test_a_different_prompt_or_no_cache_runs_the_cli(tmp_path: Path) -> None:
    paid = billing_cli(tmp_path, "paid")
    async with open_supervisor(models=models_with(paid)) as supervisor:
        await supervisor.run("paid", "one", cache=True)
        other = await supervisor.run("paid", "two", cache=True)
        uncached = await supervisor.run("paid", "one")  # the spec has no cache_ttl_s
        refused = await supervisor.run("paid", "one", cache=False)
    assert spawns(tmp_path, "paid") == 4
    assert not (other.cached or uncached.cached or refused.cached)


async def test_a_models_cache_ttl_caches_its_calls_until_it_expires(tmp_path: Path) -> None:
    now = [1_000_000.0]
    paid = billing_cli(tmp_path, "paid", cache_ttl_s=60)
    async with open_supervisor(models=models_with(paid), wall_clock=lambda: now[0]) as supervisor:
        await supervisor.run("paid", "q")
        now[0] += 59
        assert (await supervisor.run("paid", "q")).cached
        now[0] += 2
        assert not (await supervisor.run("paid", "q")).cached
    assert spawns(tmp_path, "paid") == 2


async def test_a_failure_is_never_cached(tmp_path: Path) -> None:
    paid = billing_cli(tmp_path, "paid")
    async with open_supervisor(models=models_with(paid)) as supervisor:
        for _ in range(2):
            with pytest.raises(ProcessFailedError):
                await supervisor.run("paid", "fail now", cache=True)
    assert spawns(tmp_path, "paid") == 2


async def test_a_session_call_is_never_cached(counted: SpecMaker, tmp_path: Path) -> None:
    model = counted("chat", cache_ttl_s=3600)
    async with open_supervisor(models=models_with(model)) as supervisor:
        with pytest.raises(InvalidInputError, match="cache=true cannot be used with a session"):
            await supervisor.run("chat", "hi", session="s", cache=True)
        await supervisor.run("chat", "hi", session="s")
        await supervisor.run("chat", "hi", session="t")
        assert not (await supervisor.run("chat", "hi", session="t")).cached
    assert spawns(tmp_path, "chat") == 3


async def test_a_cached_stream_yields_the_text_and_cache_clear_forgets_it(tmp_path: Path) -> None:
    paid = billing_cli(tmp_path, "paid")
    async with open_supervisor(models=models_with(paid)) as supervisor:
        await supervisor.run("paid", "streamed", cache=True)
        async with supervisor.open_stream("paid", "streamed", cache=True) as stream:
            texts = [event.text async for event in stream.events() if isinstance(event, TextDelta)]
            result = await stream.wait()
        assert texts == ["paid: streamed"] and result.cached
        assert await supervisor.clear_cache() == 1
        assert not (await supervisor.run("paid", "streamed", cache=True)).cached
    assert spawns(tmp_path, "paid") == 2


async def test_an_answer_is_cached_across_supervisors_sharing_a_store(tmp_path: Path) -> None:
    paid = billing_cli(tmp_path, "paid")
    store = MemoryStore()
    async with open_supervisor(models=models_with(paid), store=store) as supervisor:
        await supervisor.run("paid", "kept", cache=True)
    async with open_supervisor(models=models_with(paid), store=store) as supervisor:
        assert (await supervisor.run("paid", "kept", cache=True)).cached
    assert spawns(tmp_path, "paid") == 1


async def test_a_fallbacks_answer_is_cached_for_the_model_that_gave_it(
    tmp_path: Path, counted: SpecMaker
) -> None:
    """claude -> gemini: the answer gemini gave is gemini's; asking claude again, once claude
    is back, runs claude rather than answering with gemini's text."""
    paid = billing_cli(tmp_path, "paid")
    missing = counted("gone", command=("/nonexistent/cli",), fallbacks=("paid",))
    async with open_supervisor(models=models_with(paid, missing)) as supervisor:
        first = await supervisor.run("gone", "q", cache=True)
        again = await supervisor.run("paid", "q", cache=True)
    assert first.model == "paid" and not first.cached
    assert again.cached  # the answer is kept under paid's key
    assert spawns(tmp_path, "paid") == 1


# -- the ledger -------------------------------------------------------------------------------


async def test_the_ledger_sums_what_the_cli_reported(tmp_path: Path) -> None:
    priced = billing_cli(tmp_path, "priced", price_in_per_mtok=3.0, price_out_per_mtok=15.0)
    paid = billing_cli(tmp_path, "paid", cost_usd=0.125)
    prompts = {"paid": ["a", "bb", "fail ccc"], "priced": ["dddd", "eeeee"]}
    async with open_supervisor(models=models_with(paid, priced)) as supervisor:
        for model, texts in prompts.items():
            for prompt in texts:
                with contextlib.suppress(ProcessFailedError):
                    await supervisor.run(model, prompt)
        await supervisor.run("paid", "a", cache=True)
        await supervisor.run("paid", "a", cache=True)  # a hit: a call, no tokens, no cost
        rows = {row.group: row for row in await supervisor.usage()}
    paid_prompts = [*prompts["paid"], "a"]
    paid_row = rows["paid"]
    assert (paid_row.calls, paid_row.failures, paid_row.cached) == (5, 1, 1)
    for name in ("input_tokens", "output_tokens", "cache_read_tokens", "reasoning_tokens"):
        assert getattr(paid_row, name) == sum(usage_for(p)[name] for p in paid_prompts)
    assert paid_row.cost_usd == pytest.approx(0.125 * 4) and paid_row.cost_unknown == 0
    priced_row = rows["priced"]
    tokens_in = sum(usage_for(p)["input_tokens"] for p in prompts["priced"])
    tokens_out = sum(usage_for(p)["output_tokens"] for p in prompts["priced"])
    assert priced_row.cost_usd == pytest.approx((tokens_in * 3.0 + tokens_out * 15.0) / 1e6)
    assert priced_row.time_s > 0


async def test_a_cli_without_cost_or_prices_is_unknown_not_zero(tmp_path: Path) -> None:
    unpriced = billing_cli(tmp_path, "unpriced")
    async with open_supervisor(models=models_with(unpriced)) as supervisor:
        result = await supervisor.run("unpriced", "x")
        await supervisor.run("echo", "y")
        rows = {row.group: row for row in await supervisor.usage()}
    assert result.cost_usd is None and result.cost_source is None
    assert rows["unpriced"].cost_usd is None and rows["unpriced"].cost_unknown == 1
    assert rows["echo"].input_tokens is None and rows["echo"].cost_usd is None


async def test_the_ledger_groups_by_session_and_day(tmp_path: Path) -> None:
    paid = billing_cli(tmp_path, "paid", cost_usd=1.0)
    async with open_supervisor(models=models_with(paid)) as supervisor:
        await supervisor.run("paid", "a", session="s1")
        await supervisor.run("paid", "b", session="s1")
        await supervisor.run("paid", "c")
        by_session = {row.group: row.calls for row in await supervisor.usage(group_by="session")}
        by_day = await supervisor.usage(group_by="day")
        with pytest.raises(InvalidInputError, match="group_by must be one of model, day, session"):
            await supervisor.usage(group_by="week")
        assert await supervisor.usage(since=time.time() + 3600) == []
    assert by_session == {"s1": 2, "(none)": 1}
    assert len(by_day) == 1 and by_day[0].calls == 3 and by_day[0].cost_usd == 3.0


# -- budgets ----------------------------------------------------------------------------------


async def test_a_spent_daily_budget_refuses_the_next_call_without_a_process(
    tmp_path: Path,
) -> None:
    paid = billing_cli(tmp_path, "paid", cost_usd=0.6)
    budget = BudgetSettings(daily_usd=1.0)
    async with open_supervisor(models=models_with(paid), budget=budget) as supervisor:
        await supervisor.run("paid", "one")  # 0.6 spent
        await supervisor.run("paid", "two")  # 1.2 spent: the limit is reached after it
        with pytest.raises(BudgetExceededError) as info:
            await supervisor.run("paid", "three")
    assert spawns(tmp_path, "paid") == 2
    error = info.value
    assert error.kind == "budget_exceeded" and error.scope == "daily"
    assert error.spent_usd == pytest.approx(1.2) and error.limit_usd == 1.0
    assert error.resets_at % 86400 == 0 and error.resets_at > 0
    assert "$1.2000 of $1.0000" in str(error) and "[budget] daily_usd" in str(error)
    assert error.result is not None and error.result.attempts == 0


async def test_a_models_own_budget_stops_only_that_model_and_can_fall_back(
    tmp_path: Path,
) -> None:
    dear = billing_cli(
        tmp_path,
        "dear",
        cost_usd=2.0,
        budget_monthly_usd=2.0,
        fallbacks=("cheap",),
        fallback_on=("budget_exceeded",),
    )
    cheap = billing_cli(tmp_path, "cheap", cost_usd=0.01)
    async with open_supervisor(models=models_with(dear, cheap)) as supervisor:
        await supervisor.run("dear", "first")
        moved = await supervisor.run("dear", "second")
        with pytest.raises(BudgetExceededError, match="dear monthly budget is spent"):
            await supervisor.run("dear", "third", fallbacks=[])
    assert moved.model == "cheap"
    assert moved.fallback_chain[0]["error_kind"] == "budget_exceeded"
    assert moved.fallback_chain[0]["started"] is False
    assert spawns(tmp_path, "dear") == 1 and spawns(tmp_path, "cheap") == 1


async def test_a_cache_hit_is_served_even_when_the_budget_is_spent(tmp_path: Path) -> None:
    paid = billing_cli(tmp_path, "paid", cost_usd=5.0)
    async with open_supervisor(
        models=models_with(paid), budget=BudgetSettings(daily_usd=1.0)
    ) as supervisor:
        await supervisor.run("paid", "q", cache=True)
        assert (await supervisor.run("paid", "q", cache=True)).cached
        with pytest.raises(BudgetExceededError):
            await supervisor.run("paid", "other", cache=True)
    assert spawns(tmp_path, "paid") == 1
