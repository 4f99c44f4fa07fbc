"""What every replica shares through Redis besides calls: cooldowns per account, the response
cache (each answer a string expiring with it, ``EX``), the usage ledger over the ended calls,
and budget reservations (`reserve_spend`: one Lua script, so two replicas cannot both take
the last of a budget).

What it must never do: serve an expired answer, or let a reservation pass its cap.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import attrs

from ..._core.cache import CachedAnswer
from ..._core.cooldowns import CooldownRecord
from ..._core.ledger import UsageRow, check_group_by, summarize
from ..._core.records import CallRecord
from .calls import call_record
from .connection import Keys, by_score, storable

__all__ = ["SCRIPTS", "SharedMixin"]

_PAGE = 500
_LEDGER_FIELDS = ("model", "state", "created_at", "attempts", "usage", "cost_usd", "session")

# KEYS: the reservation counter. ARGV: amount, cap, ttl (s).
# Adds `amount` only if the sum stays within `cap`; the counter expires `ttl` after the last
# reservation, so a crashed replica's reservations do not hold a budget forever.
_RESERVE = """
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[1])
if held + amount > tonumber(ARGV[2]) + 1e-12 then return 0 end
redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS: the reservation counter. ARGV: amount. Never below zero.
_RELEASE = """
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
if held == 0 then return 0 end
local left = held - tonumber(ARGV[1])
if left <= 1e-12 then redis.call('DEL', KEYS[1]) else
  redis.call('SET', KEYS[1], tostring(left), 'KEEPTTL') end
return 1
"""


SCRIPTS = (_RESERVE, _RELEASE)
"""The Lua scripts of this module (loaded when a store opens)."""


class SharedMixin:
    """Cooldowns, cache, ledger and budgets of `RedisStore` (needs ``_redis``, ``_keys``,
    ``_script``)."""

    _redis: Any
    _keys: Keys
    _script: Callable[[str], Any]

    async def get_cooldowns(self) -> list[CooldownRecord]:
        found = await self._redis.hgetall(self._keys.cooldowns)
        return [CooldownRecord(**json.loads(text)) for text in found.values()]

    async def put_cooldown(self, record: CooldownRecord) -> None:
        text = storable(json.dumps(attrs.asdict(record), ensure_ascii=False))
        await self._redis.hset(self._keys.cooldowns, {record.account: text})

    async def get_cached(self, key: str, *, now: float) -> CachedAnswer | None:
        text = await self._redis.get(self._keys.cached(key))
        if text is None:
            return None
        answer = CachedAnswer(**json.loads(text))
        return answer if answer.fresh(now) else None

    async def put_cached(self, answer: CachedAnswer) -> None:
        text = storable(json.dumps(attrs.asdict(answer), ensure_ascii=False, default=str))
        ttl = max(1, math.ceil(answer.expires_at - answer.created_at))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._keys.cached(answer.key), text, ex=ttl)
            pipe.zadd(self._keys.cache_index, {answer.key: answer.expires_at})
            # Keys whose answer expired leave the index as new ones come.
            pipe.zremrangebyscore(self._keys.cache_index, "-inf", f"({answer.created_at!r}")

    async def clear_cache(self) -> int:
        keys = list(await self._redis.zrange(self._keys.cache_index, 0, -1))
        count = 0
        for at in range(0, len(keys), _PAGE):
            count += await self._redis.delete([self._keys.cached(k) for k in keys[at : at + _PAGE]])
        await self._redis.delete([self._keys.cache_index])
        return int(count)

    async def usage_summary(
        self, *, since: float | None = None, group_by: str = "model"
    ) -> list[UsageRow]:
        check_group_by(group_by)
        low = "-inf" if since is None else repr(float(since))
        ids = list(await self._redis.zrange(self._keys.calls, low, "+inf", sortby=by_score()))
        records: list[CallRecord] = []
        for at in range(0, len(ids), _PAGE):
            records += await self._ledger_records(ids[at : at + _PAGE])
        return summarize(records, since=since, group_by=group_by)

    async def reserve_spend(self, key: str, *, amount: float, cap: float, ttl_s: float) -> bool:
        """Hold `amount` of the budget `key` if what is held stays within `cap`."""
        done = await self._script(_RESERVE)(
            keys=[self._keys.spend(key)], args=[repr(amount), repr(cap), max(1, math.ceil(ttl_s))]
        )
        return bool(done)

    async def release_spend(self, key: str, *, amount: float) -> None:
        """Give back a reservation `reserve_spend` made."""
        await self._script(_RELEASE)(keys=[self._keys.spend(key)], args=[repr(amount)])

    async def _ledger_records(self, ids: list[str]) -> list[CallRecord]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pending = [
                pipe.hmget(self._keys.call(call_id), [*_LEDGER_FIELDS, "result"]) for call_id in ids
            ]
        records = []
        for call_id, one in zip(ids, pending, strict=True):
            values = await one
            if values[1] is None:  # purged meanwhile
                continue
            fields = {n: v for n, v in zip(_LEDGER_FIELDS, values, strict=False) if v is not None}
            result = values[-1]
            if result is not None:
                kept = json.loads(result)
                fields["result"] = json.dumps(
                    {k: kept.get(k) for k in ("model", "cached", "duration_s")}
                )
            records.append(call_record(call_id, fields))
        return records
