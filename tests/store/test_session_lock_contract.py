"""Session locks (`CallStore.acquire_session_lock` / `renew_session_lock` /
`release_session_lock`), alike in every backend: one holder at a time, renewed and freed only by
its holder, lapsing after the lease; and atomic across processes: two clients of one store (two
replicas of one Redis, two connections to one SQLite file) racing for a free lock, exactly one
takes it."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from llminst.store import CallStore, SQLiteStore
from llminst.store.redis import RedisStore

from ..support.redis import RedisServer

LEASE = {"lease_s": 30.0, "now": 1000.0}


async def test_one_holder_at_a_time_until_it_releases(store: CallStore) -> None:
    assert await store.acquire_session_lock("chat", "a", **LEASE) == "a"
    assert await store.acquire_session_lock("chat", "b", **LEASE) == "a"  # b is told who
    assert await store.acquire_session_lock("chat", "a", **LEASE) == "a"  # again: still a's
    assert await store.acquire_session_lock("other", "b", **LEASE) == "b"  # each session its own
    await store.release_session_lock("chat", "b")  # not b's: nothing happens
    assert await store.acquire_session_lock("chat", "b", **LEASE) == "a"
    await store.release_session_lock("chat", "a")
    assert await store.acquire_session_lock("chat", "b", **LEASE) == "b"
    await store.release_session_lock("never-locked", "a")


async def test_only_the_holder_renews(store: CallStore) -> None:
    assert await store.acquire_session_lock("chat", "a", **LEASE) == "a"
    assert await store.renew_session_lock("chat", "a", **LEASE)
    assert not await store.renew_session_lock("chat", "b", **LEASE)
    assert not await store.renew_session_lock("free", "a", **LEASE)
    await store.release_session_lock("chat", "a")
    assert not await store.renew_session_lock("chat", "a", **LEASE)  # released: gone


async def test_a_lock_lapses_after_its_lease_unless_renewed(store: CallStore) -> None:
    """A holder that died stops renewing: the next holder gets the lock once the lease ran
    out, and the dead one can no longer renew it. A 3-s lease renewed at 1.8 s still holds at
    3.6 s and has lapsed at 5.6 s. (Redis runs leases on its own clock: real time there, with
    over a second either side; the injected `now` elsewhere.)"""
    clock = _Timeline(real=isinstance(store, RedisStore))
    lease = {"lease_s": 3.0}
    assert await store.acquire_session_lock("chat", "a", now=await clock.at(0.0), **lease) == "a"
    assert await store.acquire_session_lock("chat", "b", now=await clock.at(0.1), **lease) == "a"
    assert await store.renew_session_lock("chat", "a", now=await clock.at(1.8), **lease)
    assert await store.acquire_session_lock("chat", "b", now=await clock.at(3.6), **lease) == "a"
    assert await store.acquire_session_lock("chat", "b", now=await clock.at(5.6), **lease) == "b"
    assert not await store.renew_session_lock("chat", "a", now=await clock.at(5.7), **lease)
    await store.release_session_lock("chat", "a")  # the dead holder's late release: no effect
    assert await store.acquire_session_lock("chat", "c", now=await clock.at(5.8), **lease) == "b"


class _Timeline:
    """Times of a test's steps: `at(t)` is the `now` of the step at t seconds; on a store with a
    clock of its own (Redis) it first sleeps until t seconds after the first step."""

    def __init__(self, *, real: bool) -> None:
        self.real = real
        self.start: float | None = None

    async def at(self, t: float) -> float:
        if self.real:
            if self.start is None:
                self.start = trio.current_time()
            await trio.sleep_until(self.start + t)
        return 1000.0 + t


async def _race(replicas: list[CallStore], *, contenders: int) -> list[str]:
    """`contenders` holders per replica at once, each trying to take the free lock."""
    winners: list[str] = []

    async def contend(replica: CallStore, holder: str) -> None:
        if await replica.acquire_session_lock("chat", holder, **LEASE) == holder:
            winners.append(holder)

    async with trio.open_nursery() as nursery:
        for n in range(contenders):
            for r, replica in enumerate(replicas):
                nursery.start_soon(contend, replica, f"replica{r}-turn{n}")
    return winners


@pytest.mark.parametrize("backend", ["redis", "sqlite"])
async def test_replicas_racing_for_a_free_lock_leave_exactly_one_holder(
    backend: str, tmp_path: Path
) -> None:
    with RedisServer(tmp_path / "redis") as server:
        for round_ in range(5):
            replicas: list[CallStore] = []
            for _ in range(2):
                if backend == "redis":
                    replicas.append(await RedisStore.open(f"{server.url}?prefix=r{round_}:"))
                else:
                    replicas.append(await SQLiteStore.open(tmp_path / f"race-{round_}.sqlite3"))
            try:
                assert len(await _race(replicas, contenders=10)) == 1
            finally:
                for replica in replicas:
                    await replica.aclose()
