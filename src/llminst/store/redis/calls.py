"""Call records in Redis: a hash per call, the ``calls`` index by creation time, the ``active``
set of calls not yet ended, cancel requests, interrupting orphans, and purging.

Each write is one round trip: a Lua script where a write must see the record (an update of
an unknown id does nothing, as in every backend) and index it in the same step.

What it must never do: leave a call in ``active`` after it ended, or create a record by
updating an unknown id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from ..._core.records import CallOrigin, CallRecord, CallState
from .connection import Keys, by_score, decode_field, encode_field, storable
from .pipelined import PipelineMixin
from .tallies import TALLY_LUA

__all__ = ["SCRIPTS", "CallsMixin", "call_record"]

_CALL_FIELDS = tuple(a.name for a in attrs.fields(CallRecord))
_ACTIVE = (CallState.QUEUED.value, CallState.RUNNING.value)
_PAGE = 200

# The store's prefix in a script whose KEYS[1] is PREFIX .. 'call:' .. ARGV[1] (the call id).
_PREFIX_LUA = "local prefix = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[1] - 5)\n"

# KEYS: call hash, calls index, active set, output stream.
# ARGV: call id, created_at, active ("1"/"0"), then field, value pairs.
# The budget totals (`tallies`) lose the old record's share and gain the new one's.
_ADD_CALL = (
    TALLY_LUA
    + _PREFIX_LUA
    + """
ledger_untally(KEYS[1])
redis.call('DEL', KEYS[1], KEYS[4])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
else
  redis.call('ZREM', KEYS[3], ARGV[1])
end
ledger_tally(KEYS[1], prefix)
return 1
"""
)

# KEYS: call hash, active set. ARGV: call id, active ("1", "0" or "" for unchanged),
# the number of fields to delete, those names, then field, value pairs to set.
# The budget totals (`tallies`) follow the record's share (its cost once it ended).
_UPDATE_CALL = (
    TALLY_LUA
    + _PREFIX_LUA
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local dels = tonumber(ARGV[3])
if dels > 0 then redis.call('HDEL', KEYS[1], unpack(ARGV, 4, 3 + dels)) end
if #ARGV > 3 + dels then redis.call('HSET', KEYS[1], unpack(ARGV, 4 + dels)) end
if ARGV[2] == '1' then
  redis.call('ZADD', KEYS[2], redis.call('HGET', KEYS[1], 'created_at'), ARGV[1])
elseif ARGV[2] == '0' then
  redis.call('ZREM', KEYS[2], ARGV[1])
end
ledger_tally(KEYS[1], prefix)
return 1
"""
)


SCRIPTS = (_ADD_CALL, _UPDATE_CALL)
"""The Lua scripts of this module (loaded when a store opens)."""


class CallsMixin(PipelineMixin):
    """The call part of `RedisStore` (needs ``_redis``, ``_keys`` and ``_script``)."""

    _redis: Any
    _keys: Keys
    _script: Callable[[str], Any]
    _untally: Callable[[list[str]], Any]

    async def add_call(self, record: CallRecord) -> None:
        fields = _call_fields(record.evolve(output_chars=0))
        pairs = [item for name_value in fields.items() for item in name_value]
        active = "1" if record.state.value in _ACTIVE else "0"
        keys = self._keys
        await self.run_script(
            _ADD_CALL,
            [keys.call(record.call_id), keys.calls, keys.active, keys.output(record.call_id)],
            [record.call_id, repr(float(record.created_at)), active, *pairs],
        )

    async def update_call(self, call_id: str, **changes: Any) -> None:
        if not changes:
            return
        unknown = set(changes) - set(_CALL_FIELDS)
        if unknown:
            raise TypeError(f"CallRecord has no field(s) {', '.join(sorted(unknown))}")
        await self.run_script(
            _UPDATE_CALL,
            [self._keys.call(call_id), self._keys.active],
            [call_id, *_update_args(changes)],
        )

    async def get_call(self, call_id: str) -> CallRecord | None:
        found = await self._redis.hgetall(self._keys.call(call_id))
        return call_record(call_id, found) if found else None

    async def list_calls(
        self,
        *,
        states: Sequence[CallState] | None = None,
        model: str | None = None,
        owner: str | None = None,
        limit: int = 20,
    ) -> list[CallRecord]:
        wanted = None if states is None else {CallState(s) for s in states}
        found: list[CallRecord] = []
        start = 0
        while len(found) < limit:
            ids = await self._redis.zrange(self._keys.calls, start, start + _PAGE - 1, rev=True)
            if not ids:
                break
            start += len(ids)
            for record in await self._records(ids):
                if (
                    (wanted is None or record.state in wanted)
                    and (model is None or record.model == model)
                    and (owner is None or record.owner == owner)
                ):
                    found.append(record)
        return found[: max(limit, 0)]

    async def interrupt_running(self, *, now: float, writer_alive: Callable[[str], bool]) -> int:
        ids = list(await self._redis.zrange(self._keys.active, 0, -1))
        alive: dict[str, bool] = {}
        orphans = []
        for call_id, writer_text in zip(ids, await self._field_of(ids, "writer"), strict=True):
            writer = decode_field(writer_text) if writer_text is not None else None
            if writer is not None and writer not in alive:
                alive[writer] = writer_alive(writer)
            if writer is None or not alive[writer]:
                orphans.append(call_id)
        for call_id in orphans:
            await self.update_call(call_id, state=CallState.INTERRUPTED, finished_at=now)
        return len(orphans)

    async def purge(self, *, before: float) -> int:
        keys = self._keys
        ids = list(await self._redis.zrange(keys.calls, "-inf", f"({before!r}", sortby=by_score()))
        for at in range(0, len(ids), _PAGE):
            page = ids[at : at + _PAGE]
            await self._untally(page)
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.delete([keys.call(i) for i in page] + [keys.output(i) for i in page])
                pipe.zrem(keys.calls, page)
                pipe.zrem(keys.active, page)
                pipe.hdel(keys.cancel, page)
        return len(ids)

    async def request_cancel(self, call_id: str, *, now: float) -> None:
        await self._redis.hsetnx(self._keys.cancel, call_id, repr(float(now)))
        # The replica running it hears this at once (`replicas.cancelbus`); the hash above
        # stays for its polling, should the message be lost.
        await self._redis.publish(self._keys.cancel_bus, call_id)

    async def cancel_requested(self, call_ids: Sequence[str]) -> list[str]:
        if not call_ids:
            return []
        asked = await self._redis.hmget(self._keys.cancel, list(call_ids))
        return [call_id for call_id, when in zip(call_ids, asked, strict=True) if when is not None]

    async def _records(self, ids: Sequence[str]) -> list[CallRecord]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pending = [pipe.hgetall(self._keys.call(call_id)) for call_id in ids]
        found = [await one for one in pending]
        return [call_record(i, f) for i, f in zip(ids, found, strict=True) if f]

    async def _field_of(self, ids: Sequence[str], name: str) -> list[str | None]:
        async with self._redis.pipeline(transaction=False) as pipe:
            pending = [pipe.hget(self._keys.call(call_id), name) for call_id in ids]
        return [await one for one in pending]


def _call_fields(record: CallRecord) -> dict[str, str]:
    """The hash of a record: every field that is not None (output_chars a plain integer)."""
    fields = {}
    for name in _CALL_FIELDS:
        value = getattr(record, name)
        if value is not None:
            fields[name] = _encode(name, value)
    return fields


def _encode(name: str, value: Any) -> str:
    if name == "output_chars":
        return str(int(value))
    if name == "prompt" and isinstance(value, str):
        value = storable(value)
    return storable(encode_field(value))


def _update_args(changes: dict[str, Any]) -> list[str]:
    state = changes.get("state")
    active = "" if state is None else ("1" if CallState(state).value in _ACTIVE else "0")
    deleted = [name for name, value in changes.items() if value is None]
    pairs = [
        item
        for name, value in changes.items()
        if value is not None
        for item in (name, _encode(name, value))
    ]
    return [active, str(len(deleted)), *deleted, *pairs]


def call_record(call_id: str, fields: dict[str, str]) -> CallRecord:
    """A record from its hash (fields absent from it are None)."""
    values: dict[str, Any] = {}
    for name, text in fields.items():
        if name == "output_chars":
            values[name] = int(text)
        elif name in _FIELD_SET:
            values[name] = decode_field(text)
    values["call_id"] = call_id
    values["state"] = CallState(values["state"])
    values["origin"] = CallOrigin(values.get("origin", CallOrigin.LIBRARY))
    return CallRecord(**values)


_FIELD_SET = frozenset(_CALL_FIELDS)
