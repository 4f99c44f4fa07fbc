"""A budget check on a Redis store reads the period's running totals (one hash, O(models)),
never the period's call records: its cost does not grow through the month.

Real processes (the billing CLI of `support.billing`), a real redis-server whose own command
counts (``INFO commandstats``) say what a budget check sent."""

from __future__ import annotations

from pathlib import Path

import coredis
import pytest

from llminst import open_supervisor
from llminst._core.errors import BudgetExceededError
from llminst._core.spec import BudgetSettings
from llminst.store.redis import RedisStore

from ..support.billing import billing_cli
from ..support.models import models_with
from ..support.redis import RedisServer


async def commands(url: str) -> dict[str, int]:
    client = coredis.Redis.from_url(url, decode_responses=True)
    async with client:
        info = await client.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in info.items()}


async def reset_stats(url: str) -> None:
    client = coredis.Redis.from_url(url, decode_responses=True)
    async with client:
        await client.config_resetstat()


async def test_a_budget_check_reads_the_totals_not_every_call_of_the_period(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """30 calls at $0.01 in today's (and this month's) totals; the 31st call's check sends no
    ZRANGE and no per-record read (HMGET of call records), only the totals' HGETALL per
    limit; the limit still refuses once the totals reach it."""
    paid = billing_cli(tmp_path, "paid", cost_usd=0.01)
    budget = BudgetSettings(daily_usd=0.31, monthly_usd=100.0)
    store = await RedisStore.open(redis_server.url)
    try:
        async with open_supervisor(models=models_with(paid), budget=budget, store=store) as sup:
            for n in range(30):
                await sup.run("paid", f"p{n}")
            await sup.flushed()
            await reset_stats(redis_server.url)
            await sup.run("paid", "the 31st")
            sent = await commands(redis_server.url)
            with pytest.raises(BudgetExceededError, match=r"\$0\.3100 of \$0\.3100"):
                await sup.run("paid", "over")
    finally:
        await store.aclose()
    assert "zrange" not in sent, sent
    assert sent.get("hmget", 0) <= 1, sent  # the cancel poll's, at most: no call record
    # the daily and the monthly totals (and the cooldowns, re-read as a call starts)
    assert 2 <= sent["hgetall"] <= 3, sent
