"""Global concurrency leases: a model's limit held per account across every replica.

A model with ``concurrency_scope = "global"`` counts its running calls in one Redis sorted
set per account (``<prefix>leases:<account>``): each member is a lease id, scored by the time
(Redis's own clock, so replicas' clocks need not agree) at which it expires. `acquire` runs one
Lua script that drops expired leases and adds this one only if fewer than the limit remain;
a call waits (polling, backing off to `poll_max_s`) until one is free. `run` renews every held
lease every third of `lease_s`; `release` removes one. A replica that dies stops renewing, so
its slots come back once its leases expire.

What it must never do: hold up or fail a call because Redis is unreachable (the call then runs
under the local limit only, logged as ``llminst.lease.unavailable``), or let a slot leak (a
release that fails still expires).
"""

from __future__ import annotations

import uuid
from typing import Any

import trio

from ..logs import get_logger
from .health import StoreHealth, is_unavailable

__all__ = ["GlobalLeases"]

_log = get_logger()

# KEYS[1] the account's set; ARGV lease id, limit, lease ms. 1: acquired, 0: full.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[3]))
return 1
"""

# KEYS[1] the account's set; ARGV lease id, lease ms. 1: renewed, 0: it had expired.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) <= now then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
return 1
"""


class GlobalLeases:
    """Leases on per-account slots shared by every replica on one Redis.

    Args:
        client: a coredis client (``decode_responses=True``).
        prefix: the keys' prefix.
        lease_s: how long a lease lasts without renewal (a dead replica's slots come back
            this long after its last renewal).
        poll_s, poll_max_s: the first and the longest wait between tries for a full set.
        health: told of each failure and success.
    """

    def __init__(
        self,
        client: Any,
        *,
        prefix: str,
        lease_s: float,
        health: StoreHealth,
        poll_s: float = 0.05,
        poll_max_s: float = 0.5,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.lease_ms = max(1, int(lease_s * 1000))
        self.health = health
        self.poll_s = poll_s
        self.poll_max_s = poll_max_s
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._held: dict[str, tuple[str, int]] = {}  # lease id -> its set's key, its limit

    def key(self, account: str) -> str:
        return f"{self.prefix}leases:{account}"

    async def acquire(self, account: str, limit: int) -> str | None:
        """Wait for one of `account`'s `limit` slots; its lease id, or None when Redis cannot
        be reached (the caller goes on under its local limit).

        Cancellation: safe; a lease taken as the wait is cancelled is released.
        """
        key = self.key(account)
        lease_id = uuid.uuid4().hex
        wait = self.poll_s
        while True:
            try:
                with trio.CancelScope(shield=True):  # a lease taken is a lease known
                    got = await self._acquire(keys=[key], args=[lease_id, limit, self.lease_ms])
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                self.health.failed(exc, what="lease")
                _log.warning("llminst.lease.unavailable", account=account, error=repr(exc))
                return None
            self.health.succeeded("lease")
            if got:
                self._held[lease_id] = (key, limit)
                return lease_id
            await trio.sleep(wait)
            wait = min(self.poll_max_s, wait * 2)

    async def release(self, lease_id: str | None) -> None:
        """Give the slot back (shielded; a failure leaves the lease to expire)."""
        if lease_id is None:
            return
        held = self._held.pop(lease_id, None)
        if held is None:
            return
        key, _limit = held
        with trio.CancelScope(shield=True):
            try:
                await self.client.zrem(key, [lease_id])
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                self.health.failed(exc, what="lease")

    def held(self) -> int:
        """How many leases this replica holds now."""
        return len(self._held)

    async def run(self) -> None:
        """Renew every held lease every third of the lease, forever (a nursery task)."""
        while True:
            await trio.sleep(self.lease_ms / 3000)
            await self.renew_all()

    async def renew_all(self) -> None:
        """Renew every held lease. One that expired (Redis restarted empty, or was away
        longer than a lease) is taken again if its set has room, else dropped: its call runs
        on, counted by the local limit only (``llminst.lease.lost``)."""
        for lease_id, (key, limit) in list(self._held.items()):
            try:
                renewed = await self._renew(keys=[key], args=[lease_id, self.lease_ms])
                if not renewed:
                    renewed = await self._acquire(keys=[key], args=[lease_id, limit, self.lease_ms])
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                self.health.failed(exc, what="lease")
                return
            self.health.succeeded("lease")
            if not renewed and self._held.pop(lease_id, None) is not None:
                _log.warning("llminst.lease.lost", key=key, lease=lease_id)
