"""Budget reservations (`CallStore.reserve_spend` / `release_spend`), alike in every backend,
and atomic across processes: two clients of one store (two replicas of one Redis, two
connections to one SQLite file) racing for the last of a budget pass exactly as many times as
it allows."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from llminst.store import CallStore, SQLiteStore
from llminst.store.redis import RedisStore

from ..support.redis import RedisServer


async def test_a_hold_is_taken_while_what_is_held_is_below_the_cap(store: CallStore) -> None:
    hold = {"amount": 0.25, "cap": 0.6, "now": 100.0, "ttl_s": 3600.0}
    assert await store.reserve_spend("daily:0", **hold)  # 0 held
    assert await store.reserve_spend("daily:0", **hold)  # 0.25 held
    assert await store.reserve_spend("daily:0", **hold)  # 0.5 held: still below 0.6
    assert not await store.reserve_spend("daily:0", **hold)  # 0.75 held
    assert await store.reserve_spend("other:0", **hold)  # each budget its own
    await store.release_spend("daily:0", amount=0.25)
    await store.release_spend("daily:0", amount=0.25)
    assert await store.reserve_spend("daily:0", **hold)  # 0.25 held again
    for _ in range(5):  # giving back more than is held never goes below zero
        await store.release_spend("daily:0", amount=0.25)
    await store.release_spend("never-held:0", amount=1.0)
    assert await store.reserve_spend("daily:0", **{**hold, "cap": 0.01})


async def test_holds_are_forgotten_after_their_ttl(store: CallStore) -> None:
    """A replica that died never gives its holds back: they lapse."""
    assert await store.reserve_spend("daily:0", amount=1.0, cap=0.5, now=100.0, ttl_s=1.0)
    assert not await store.reserve_spend("daily:0", amount=1.0, cap=0.5, now=100.5, ttl_s=1.0)
    if isinstance(store, RedisStore):
        await trio.sleep(2.1)  # Redis's own clock runs the expiry (whole seconds)
    assert await store.reserve_spend("daily:0", amount=1.0, cap=0.5, now=102.0, ttl_s=1.0)


async def _race(replicas: list[CallStore], *, checkers: int) -> int:
    """`checkers` tasks per replica at once, each reserving 0.1 of a 0.25 cap."""
    passed = 0

    async def check(replica: CallStore) -> None:
        nonlocal passed
        if await replica.reserve_spend("daily:0", amount=0.1, cap=0.25, now=1.0, ttl_s=60.0):
            passed += 1

    async with trio.open_nursery() as nursery:
        for _ in range(checkers):
            for replica in replicas:
                nursery.start_soon(check, replica)
    return passed


@pytest.mark.parametrize("backend", ["redis", "sqlite"])
async def test_replicas_racing_for_the_last_of_a_budget_pass_exactly_as_it_allows(
    backend: str, tmp_path: Path
) -> None:
    """0.1 per hold, a 0.25 cap: holds are taken at 0, 0.1 and 0.2 held, so exactly three of
    the forty checkers pass, however the two replicas' requests interleave."""
    with RedisServer(tmp_path / "redis") as server:
        for round_ in range(5):
            replicas: list[CallStore] = []
            for _ in range(2):
                if backend == "redis":
                    replicas.append(await RedisStore.open(f"{server.url}?prefix=r{round_}:"))
                else:
                    replicas.append(await SQLiteStore.open(tmp_path / f"race-{round_}.sqlite3"))
            try:
                assert await _race(replicas, checkers=20) == 3
            finally:
                for replica in replicas:
                    await replica.aclose()
