"""Sessions in Redis: one JSON string per session (``session:NAME``) and the ``sessions``
sorted set by ``updated_at`` for listing, written together in one transaction.

What it must never do: list a session whose record is gone, or lose a turn's text.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from ..._core.records import SessionRecord, Turn
from .connection import Keys, storable

__all__ = ["SessionsMixin"]

_PAGE = 200


class SessionsMixin:
    """The session part of `RedisStore` (needs ``_redis`` and ``_keys``)."""

    _redis: Any
    _keys: Keys

    async def get_session(self, name: str) -> SessionRecord | None:
        text = await self._redis.get(self._keys.session(name))
        return None if text is None else _session_record(text)

    async def put_session(self, record: SessionRecord) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._keys.session(record.name), _session_text(record))
            pipe.zadd(self._keys.sessions, {record.name: record.updated_at})

    async def list_sessions(
        self, *, owner: str | None = None, limit: int = 50
    ) -> list[SessionRecord]:
        found: list[SessionRecord] = []
        start = 0
        while len(found) < limit:
            names = await self._redis.zrange(
                self._keys.sessions, start, start + _PAGE - 1, rev=True
            )
            if not names:
                break
            start += len(names)
            texts = await self._redis.mget([self._keys.session(name) for name in names])
            records = (_session_record(text) for text in texts if text is not None)
            found += [r for r in records if owner is None or r.owner == owner]
        return found[: max(limit, 0)]


def _session_text(record: SessionRecord) -> str:
    values = attrs.asdict(record, recurse=False)
    values["turns"] = [attrs.asdict(turn) for turn in record.turns]
    return storable(json.dumps(values, ensure_ascii=False))


def _session_record(text: str) -> SessionRecord:
    values = json.loads(text)
    values["turns"] = tuple(Turn(**turn) for turn in values["turns"])
    return SessionRecord(**values)
