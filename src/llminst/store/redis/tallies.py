"""The budget ledger's running totals in Redis: per UTC day and per UTC month, what the ended
calls created in it cost and how many were priced, per model that answered.

A budget check reads one hash (`TalliesMixin.period_spend`: O(models)) instead of every call
record of the period. The totals are kept by `TALLY_LUA`, a Lua function the scripts that
write a call's record (`calls`) run in the same step: it works out the call's *share* (the
model that answered, its cost in nano-dollars, priced or not: `_core.budget.ModelSpend`'s
rules) from the record as it now is, and moves the totals by the difference from the share it
counted before (kept in the record's ``_ledger`` field). So writing a record twice, or a
cost corrected later, counts once; and the share can be taken back exactly
(`UNTALLY_LUA`: a purged call leaves the totals, which always sum the records the store
holds, as in every backend). Costs are summed as integers (nano-dollars): no float drift.

Keys (under the store's prefix): ``ledger:daily:START`` and ``ledger:monthly:START`` (START the
period's first second, epoch), fields ``c:MODEL`` (nano-dollars) and ``n:MODEL`` (priced
calls); each expires 3 (daily) or 62 (monthly) days after its last change: only the current
period is ever read. ``ledger:v1`` marks a store whose older records were counted
(`count_existing`, run once at open; idempotent, as each call's share is).

What it must never do: count a call twice, or count a call that has not ended.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..._core.budget import PERIODS, ModelSpend, period
from .connection import Keys

__all__ = ["TALLY_LUA", "UNTALLY_LUA", "TalliesMixin", "count_existing", "tally_key"]

_NANO = 1_000_000_000
_PAGE = 200

# The day of the month from days since the epoch: H. Hinnant's `civil_from_days`.
_SHARE_LUA = """
local function ledger_keys(prefix, created)
  local day = math.floor(created / 86400)
  local z = day + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
    - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local dom = doy - math.floor((153 * mp + 2) / 5) + 1
  return {prefix .. 'ledger:daily:' .. string.format('%d', day * 86400),
          prefix .. 'ledger:monthly:' .. string.format('%d', (day - dom + 1) * 86400)}
end
local function truthy(value)
  return value ~= nil and value ~= false and value ~= cjson.null and value ~= 0 and value ~= ''
end
local function ledger_share(call_key, prefix)
  local state = redis.call('HGET', call_key, 'state')
  if not state then return nil end
  state = cjson.decode(state)
  if state == 'queued' or state == 'running' then return nil end
  local f = {}  -- one HGET each (HMGET is also a client command: benchmarks.redis_ops)
  for i, name in ipairs({'state', 'created_at', 'attempts', 'cost_usd', 'result', 'model'}) do
    f[i] = redis.call('HGET', call_key, name)
  end
  local result = f[5] and cjson.decode(f[5]) or {}
  if type(result) ~= 'table' then result = {} end
  local model = result['model']
  if type(model) ~= 'string' then model = cjson.decode(f[6]) end
  local cached = truthy(result['cached'])
  local cost = f[4] and cjson.decode(f[4])  -- a missing field is false
  if type(cost) ~= 'number' then cost = nil end
  local attempts = tonumber(f[3] and cjson.decode(f[3])) or 0
  local priced = 0
  if not cached and (cost ~= nil or attempts == 0) then priced = 1 end
  local nano = 0
  if cost ~= nil then nano = math.floor(cost * 1e9 + 0.5) end
  return {m = model, c = nano, n = priced,
          k = ledger_keys(prefix, tonumber(cjson.decode(f[2])))}
end
local function ledger_add(key, field, amount)
  if amount ~= 0 and redis.call('HINCRBY', key, field, amount) == 0 then
    redis.call('HDEL', key, field)  -- a period whose calls are all gone leaves no key
  end
end
local function ledger_move(share, sign)
  for i, key in ipairs(share.k) do
    if sign > 0 or redis.call('EXISTS', key) == 1 then
      ledger_add(key, 'c:' .. share.m, sign * share.c)
      ledger_add(key, 'n:' .. share.m, sign * share.n)
      if sign > 0 then redis.call('EXPIRE', key, i == 1 and 259200 or 5356800) end
    end
  end
end
local function ledger_untally(call_key)
  local counted = redis.call('HGET', call_key, '_ledger')
  if counted then
    ledger_move(cjson.decode(counted), -1)
    redis.call('HDEL', call_key, '_ledger')
  end
end
"""

TALLY_LUA = (
    _SHARE_LUA
    + """
local function ledger_tally(call_key, prefix)
  local share = ledger_share(call_key, prefix)
  if share and share.c == 0 and share.n == 0 then share = nil end  -- adds nothing: no writes
  local text = share and cjson.encode(share) or false
  local counted = redis.call('HGET', call_key, '_ledger')
  if text == counted then return end
  if counted then ledger_move(cjson.decode(counted), -1) end
  if share then
    ledger_move(share, 1)
    redis.call('HSET', call_key, '_ledger', text)
  else
    redis.call('HDEL', call_key, '_ledger')
  end
end
"""
)
"""Lua: ``ledger_tally(call_key, prefix)`` (count the call's share as its record now is) and
``ledger_untally(call_key)`` (take it back); a script that writes a record runs the first."""

UNTALLY_LUA = _SHARE_LUA
"""Lua: ``ledger_untally(call_key)`` alone (a script that deletes a record runs it first)."""

# KEYS: call hashes. ARGV: the prefix. Counts each one's share (records written before the
# totals existed).
_TALLY_EACH = TALLY_LUA + "for _, key in ipairs(KEYS) do ledger_tally(key, ARGV[1]) end return 1"

# KEYS: call hashes about to be deleted. Takes each one's share back.
_UNTALLY_EACH = UNTALLY_LUA + "for _, key in ipairs(KEYS) do ledger_untally(key) end return 1"

SCRIPTS = (_TALLY_EACH, _UNTALLY_EACH)
"""The Lua scripts of this module (loaded when a store opens)."""


def tally_key(keys: Keys, kind: str, start: float) -> str:
    """The totals of the `kind` period that begins at `start`."""
    return f"{keys.prefix}ledger:{kind}:{start:.0f}"


async def count_existing(redis: Any, keys: Keys, script: Callable[[str], Any]) -> None:
    """Count every record's share once per store (those written before the totals were
    kept); a no-op once ``ledger:v1`` is set. Safe to race: each share counts once."""
    marker = f"{keys.prefix}ledger:v1"
    if await redis.exists([marker]):
        return
    ids = list(await redis.zrange(keys.calls, 0, -1))
    for at in range(0, len(ids), _PAGE):
        page = [keys.call(call_id) for call_id in ids[at : at + _PAGE]]
        await script(_TALLY_EACH)(keys=page, args=[keys.prefix])
    await redis.set(marker, "1")


class TalliesMixin:
    """`period_spend` of `RedisStore`, and taking purged calls out of the totals (needs
    ``_redis``, ``_keys``, ``_script``)."""

    _redis: Any
    _keys: Keys
    _script: Callable[[str], Any]

    async def period_spend(self, kind: str, *, start: float) -> list[ModelSpend]:
        if kind not in PERIODS:
            raise ValueError(f"kind must be one of {', '.join(PERIODS)}, got {kind!r}")
        start, _ = period(kind, start)
        fields = await self._redis.hgetall(tally_key(self._keys, kind, start))
        models = sorted({name[2:] for name in fields})
        spends = [
            ModelSpend(
                model=model,
                cost_usd=round(int(fields.get(f"c:{model}", 0)) / _NANO, 9),
                priced=int(fields.get(f"n:{model}", 0)),
            )
            for model in models
        ]
        return [spend for spend in spends if spend.cost_usd or spend.priced]

    async def _untally(self, call_ids: list[str]) -> None:
        """Take the calls about to be purged out of the totals."""
        if call_ids:
            await self._script(_UNTALLY_EACH)(keys=[self._keys.call(i) for i in call_ids], args=[])
