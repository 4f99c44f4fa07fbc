"""The cache, the ledger and budgets over MCP (the SDK's in-memory client): cache on
execute_llm and stream_llm, get_llm_usage's table, and budget_exceeded as an error result."""

from __future__ import annotations

from pathlib import Path

from llminst._core.spec import BudgetSettings

from ..support.billing import billing_cli, usage_for
from ..support.counting import spawns
from ..support.progress import ProgressRecorder
from ..support.tools import call_fields, connect, text_of


async def test_execute_and_stream_answer_from_the_cache_without_a_process(
    mode: str, tmp_path: Path
) -> None:
    paid = billing_cli(tmp_path, "paid", cost_usd=0.5)
    recorder = ProgressRecorder()
    arguments = {"model": "paid", "prompt": "hi", "cache": True}
    async with connect(mode, paid) as client:
        first = await client.call_tool("execute_llm", {**arguments, "stream": False})
        second = await client.call_tool("stream_llm", arguments, progress_callback=recorder)
        await recorder.wait_for_text("paid: hi")  # the cached text arrives as progress too
        usage = await client.call_tool("get_llm_usage", {})
    assert spawns(tmp_path, "paid") == 1
    assert text_of(first) == text_of(second) == "paid: hi"
    hit = call_fields(second.structured_content)
    assert hit["cached"] is True and hit["cached_call_id"] and hit["cost_usd"] == 0.0
    assert call_fields(first.structured_content)["cached"] is False
    (row,) = usage.structured_content["rows"]
    assert row["group"] == "paid" and row["calls"] == 2 and row["cached"] == 1
    assert row["input_tokens"] == usage_for("hi")["input_tokens"] and row["cost_usd"] == 0.5


async def test_get_llm_usage_groups_and_filters(mode: str, tmp_path: Path) -> None:
    paid = billing_cli(tmp_path, "paid", cost_usd=0.25)
    async with connect(mode, paid) as client:
        for prompt, session in [("a", "s1"), ("b", "s1"), ("c", None)]:
            await client.call_tool(
                "execute_llm", {"model": "paid", "prompt": prompt, "session": session}
            )
        await client.call_tool("execute_llm", {"model": "echo", "prompt": "free"})
        by_session = await client.call_tool("get_llm_usage", {"group_by": "session"})
        recent = await client.call_tool("get_llm_usage", {"since": "1h"})
        future = await client.call_tool("get_llm_usage", {"since": "2999-01-01"})
        bad = await client.call_tool("get_llm_usage", {"since": "last tuesday"})
    groups = {r["group"]: r["calls"] for r in by_session.structured_content["rows"]}
    assert groups == {"s1": 2, "(none)": 2}
    total = recent.structured_content["total"]
    assert total["calls"] == 4 and total["cost_usd"] == 0.75 and total["cost_unknown"] == 1
    assert (
        future.structured_content["rows"] == [] and future.structured_content["total"]["calls"] == 0
    )
    assert bad.is_error and text_of(bad).startswith("invalid_input: since 'last tuesday'")


async def test_a_spent_budget_is_an_error_result_naming_spent_limit_and_reset(
    mode: str, tmp_path: Path
) -> None:
    paid = billing_cli(tmp_path, "paid", cost_usd=3.0)
    async with connect(mode, paid, budget=BudgetSettings(daily_usd=2.0)) as client:
        ok = await client.call_tool("execute_llm", {"model": "paid", "prompt": "one"})
        refused = await client.call_tool("execute_llm", {"model": "paid", "prompt": "two"})
        still = await client.call_tool("execute_llm", {"model": "echo", "prompt": "x"})
    assert not ok.is_error and refused.is_error
    text = text_of(refused)
    assert text.startswith("budget_exceeded: the daily budget is spent: $3.0000 of $2.0000")
    assert "It resets at" in text and "[budget] daily_usd" in text
    assert refused.structured_content["error_kind"] == "budget_exceeded"
    assert refused.structured_content["attempts"] == 0
    assert still.is_error and text_of(still).startswith("budget_exceeded:")  # every model
    assert spawns(tmp_path, "paid") == 1
