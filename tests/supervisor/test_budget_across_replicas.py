"""Budgets across replicas: two supervisors sharing one Redis store (two llminst servers on one
Redis) never start more calls together than the budget has room for, with real processes (the
billing CLI of `support.billing` reports each call's cost and counts its starts)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from llminst import open_supervisor
from llminst._core.errors import BudgetExceededError
from llminst._core.spec import BudgetSettings
from llminst.store.redis import RedisStore

from ..support.billing import billing_cli
from ..support.counting import spawns
from ..support.models import models_with
from ..support.redis import RedisServer


async def test_two_replicas_racing_for_the_last_of_a_daily_budget_stay_within_it(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """$0.30 a call, $1.00 a day. After one call (0.30 spent, so a call is expected to cost
    0.30), eight calls start at once, four on each replica: at most three fit (0.30 + 3 x
    0.30 held reaches the limit); the rest are refused before a process starts. Without the
    holds, each replica saw 0.30 spent and all eight ran ($2.70 of $1.00)."""
    paid = billing_cli(tmp_path, "paid", cost_usd=0.3)
    budget = BudgetSettings(daily_usd=1.0)
    stores = [await RedisStore.open(redis_server.url) for _ in range(2)]
    outcomes: list[str] = []
    try:
        async with (
            open_supervisor(models=models_with(paid), budget=budget, store=stores[0]) as a,
            open_supervisor(models=models_with(paid), budget=budget, store=stores[1]) as b,
        ):
            await a.run("paid", "first")

            async def one(replica: object, prompt: str) -> None:
                try:
                    await replica.run("paid", prompt)  # type: ignore[attr-defined]
                    outcomes.append("ran")
                except BudgetExceededError:
                    outcomes.append("refused")

            async with trio.open_nursery() as nursery:
                for n in range(4):
                    nursery.start_soon(one, a, f"a{n}")
                    nursery.start_soon(one, b, f"b{n}")
        rows = await stores[1].usage_summary()
    finally:
        for store in stores:
            await store.aclose()
    ran = outcomes.count("ran")
    assert 1 <= ran <= 3 and len(outcomes) == 8, outcomes
    assert spawns(tmp_path, "paid") == 1 + ran
    assert rows[0].cost_usd == pytest.approx(0.3 * (1 + ran)) and rows[0].cost_usd <= 1.2 + 1e-9
