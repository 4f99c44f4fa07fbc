"""`SessionLocks` on the in-memory store and a virtual clock (the lock's `now` is trio's clock
here, so leases lapse as virtual time passes): a turn keeps its lock however long it runs, a
waiting turn says once whom it waits for and can be cancelled, a dead holder's lock lapses, and
a store that cannot lock leaves the turn to run (logged once)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from llminst._core.errors import ConfigError
from llminst._core.spec import Settings
from llminst._core.userconfig import parse_config
from llminst.replicas.health import StoreHealth
from llminst.store import MemoryStore
from llminst.supervisor.sessionlock import SessionLocks

LEASE_S = 30.0


@asynccontextmanager
async def locks_on(store: MemoryStore, **kwargs: object) -> AsyncIterator[SessionLocks]:
    async with trio.open_nursery() as nursery:
        yield SessionLocks(
            store,
            nursery=nursery,
            lease_s=LEASE_S,
            holder="host:1:1",
            clock=trio.current_time,
            **kwargs,  # type: ignore[arg-type]
        )


async def _other_takes(store: MemoryStore, holder: str = "elsewhere") -> str:
    return await store.acquire_session_lock(
        "chat", holder, lease_s=LEASE_S, now=trio.current_time()
    )


async def test_a_turn_keeps_its_lock_for_as_long_as_it_runs(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Five leases long: renewed every third of one, never lapsing; freed at the end."""
    store = MemoryStore()
    async with locks_on(store) as locks:
        async with locks.held("chat"):
            mine = await _other_takes(store)
            assert mine.startswith("host:1:1/")
            for _ in range(10):
                await trio.sleep(LEASE_S / 2)
                assert await _other_takes(store) == mine
        assert await _other_takes(store) == "elsewhere"


async def test_a_waiting_turn_says_once_whom_it_waits_for_and_can_be_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = MemoryStore()
    with capture_logs() as logs:
        async with locks_on(store) as locks:
            await _other_takes(store)  # and keeps renewing it
            with trio.move_on_after(LEASE_S / 2) as waited:
                async with locks.held("chat"):
                    raise AssertionError("entered while another held the lock")
            assert waited.cancelled_caught
            assert await _other_takes(store) == "elsewhere"  # the cancelled wait took nothing
    waits = [entry for entry in logs if entry["event"] == "llminst.session.waiting"]
    assert waits == [
        {
            "event": "llminst.session.waiting",
            "session": "chat",
            "holder": "elsewhere",
            "log_level": "info",
        }
    ]


async def test_a_dead_holders_lock_lapses_and_the_turn_goes_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = MemoryStore()
    async with locks_on(store) as locks:
        await _other_takes(store, "died")  # never renewed, never released
        started = trio.current_time()
        async with locks.held("chat"):
            entered = trio.current_time() - started
            assert (await _other_takes(store)).startswith("host:1:1/")
    assert LEASE_S <= entered <= LEASE_S + 1.0  # the wait backs off to 1 s at most


async def test_a_lock_the_store_forgot_is_taken_again_and_one_taken_by_another_is_let_go(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The store lost the lock (a Redis restarted empty): the next renewal takes it again.
    Another holder has it by then (a lease that lapsed while the store was away): the turn runs
    on, says so once, and its end frees nothing of the other's."""
    store = MemoryStore()
    with capture_logs() as logs:
        async with locks_on(store) as locks, locks.held("chat"):
            mine = await _other_takes(store)
            await store.release_session_lock("chat", mine)  # forgotten
            await trio.sleep(LEASE_S / 3 + 1)  # a renewal
            assert await _other_takes(store) == mine
            await store.release_session_lock("chat", mine)
            assert await _other_takes(store, "thief") == "thief"
            await trio.sleep(LEASE_S / 3 + 1)
        assert await _other_takes(store) == "thief"
    lost = [entry for entry in logs if entry["event"] == "llminst.session.lock_lost"]
    assert [entry["holder"] for entry in lost] == ["thief"]


class _SlowRenewals(MemoryStore):
    """A store whose renewals take a while to arrive (a slow round trip)."""

    async def renew_session_lock(
        self, name: str, holder: str, *, lease_s: float, now: float
    ) -> bool:
        await trio.sleep(5.0)
        return await super().renew_session_lock(
            name, holder, lease_s=lease_s, now=trio.current_time()
        )


async def test_a_turn_that_ends_during_a_renewal_leaves_the_lock_free(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Freed while a renewal was on its way, the lock was found gone by the renewal and taken
    again: the next turn elsewhere waited a whole lease for a turn that had ended."""
    store = _SlowRenewals()
    async with locks_on(store) as locks:
        async with locks.held("chat"):
            await trio.sleep(LEASE_S / 3 + 1)  # a renewal is under way
        await trio.sleep(10.0)  # it has arrived
        assert await _other_takes(store) == "elsewhere"


class _Unreachable(MemoryStore):
    """A store whose server is away (`down`): every lock operation fails as Redis's would."""

    down = True

    async def acquire_session_lock(
        self, name: str, holder: str, *, lease_s: float, now: float
    ) -> str:
        if self.down:
            raise ConnectionError("Connection refused")
        return await super().acquire_session_lock(name, holder, lease_s=lease_s, now=now)


async def test_a_store_that_cannot_lock_lets_the_turn_run_and_says_so_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = _Unreachable()
    health = StoreHealth()
    with capture_logs() as logs:
        async with locks_on(store, health=health) as locks:
            for _ in range(3):
                async with locks.held("chat"):
                    pass
            assert health.degraded
            store.down = False
            async with locks.held("chat"):
                assert not health.degraded
    names = [entry["event"] for entry in logs]
    assert names.count("llminst.session.lock_unavailable") == 1, names


def test_the_lease_is_a_setting_checked_like_the_other_replica_times() -> None:
    config = parse_config("[settings]\nsession_lock_lease_s = 5\n", source="/etc/llminst.toml")
    assert config.settings.session_lock_lease_s == 5.0
    assert Settings().session_lock_lease_s == 30.0
    with pytest.raises(ConfigError) as info:
        parse_config("[settings]\nsession_lock_lease_s = 0\n", source="/etc/llminst.toml")
    message = str(info.value)
    assert message.startswith("/etc/llminst.toml: ") and "session_lock_lease_s" in message
    assert "above 0" in message, message
