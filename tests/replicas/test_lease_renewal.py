"""Leases across a Redis restart: a held lease whose set was lost is taken again when there is
room, and dropped (logged once) when others filled the slots meanwhile. Real redis-server,
restarted empty on its port."""

from __future__ import annotations

import coredis
from structlog.testing import capture_logs

from llminst.replicas.health import StoreHealth
from llminst.replicas.leases import GlobalLeases

from ..support.redis import RedisServer


async def _renewed(leases: GlobalLeases) -> None:
    """Renew until a renewal reached the server (the first may meet the dropped connection)."""
    for _ in range(20):
        await leases.renew_all()
        if not leases.health.degraded:
            return
    raise AssertionError("renewals never reached the restarted server")


async def test_a_lease_lost_in_a_restart_is_taken_again_or_dropped(
    redis_server: RedisServer,
) -> None:
    client = coredis.Redis.from_url(redis_server.url, decode_responses=True)
    async with client:
        mine = GlobalLeases(client, prefix="t", lease_s=60, health=StoreHealth())
        first = await mine.acquire("acct", 1)
        second = await mine.acquire("other", 1)
        assert first and second
        redis_server.restart()  # empty again: both sets are gone
        # Another replica takes the only slot of "other" before this one renews.
        rival = coredis.Redis.from_url(redis_server.url, decode_responses=True)
        async with rival:
            theirs = GlobalLeases(rival, prefix="t", lease_s=60, health=StoreHealth())
            assert await theirs.acquire("other", 1)
        with capture_logs() as logs:
            await _renewed(mine)
        assert await client.zrange(mine.key("acct"), 0, -1) == (first,)
        assert mine.held() == 1  # "other"'s lease was dropped: the rival holds the slot
        lost = [entry for entry in logs if entry["event"] == "llminst.lease.lost"]
        assert len(lost) == 1 and lost[0]["lease"] == second
        await mine.renew_all()  # nothing more to lose
        await mine.release(first)
        assert await client.zcard(mine.key("acct")) == 0
