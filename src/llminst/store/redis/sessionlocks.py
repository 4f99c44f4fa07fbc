"""Session locks in Redis: one string per held lock (``session-lock:NAME``, under the store's
prefix, so a cluster keeps it in the store's one slot) whose value is the holder, with a
``PX`` lease on Redis's own clock (replicas' clocks need not agree). Taking, renewing and
freeing are each one Lua script: a compare-and-set, so only the holder extends or deletes it.

What it must never do: take a lock another holder holds unexpired, or free or extend a lock
the caller does not hold.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .connection import Keys

__all__ = ["SCRIPTS", "SessionLocksMixin"]

# KEYS: the lock. ARGV: holder, lease ms. The holder afterwards (ARGV[1]: taken or extended).
_ACQUIRE = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
"""

# KEYS: the lock. ARGV: holder, lease ms. 1: extended, 0: not the holder's (lapsed or taken).
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS: the lock. ARGV: holder. Deleted only if the holder's.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

SCRIPTS = (_ACQUIRE, _RENEW, _RELEASE)
"""The Lua scripts of this module (loaded when a store opens)."""


class SessionLocksMixin:
    """The session locks of `RedisStore` (needs ``_keys`` and ``_script``)."""

    _keys: Keys
    _script: Callable[[str], Any]

    def _session_lock(self, name: str) -> str:
        return f"{self._keys.prefix}session-lock:{name}"

    async def acquire_session_lock(
        self, name: str, holder: str, *, lease_s: float, now: float
    ) -> str:
        """`CallStore.acquire_session_lock` (Redis's clock runs the lease: `now` is unused)."""
        current = await self._script(_ACQUIRE)(
            keys=[self._session_lock(name)], args=[holder, _milliseconds(lease_s)]
        )
        return str(current)

    async def renew_session_lock(
        self, name: str, holder: str, *, lease_s: float, now: float
    ) -> bool:
        """`CallStore.renew_session_lock` (on Redis's clock)."""
        renewed = await self._script(_RENEW)(
            keys=[self._session_lock(name)], args=[holder, _milliseconds(lease_s)]
        )
        return bool(renewed)

    async def release_session_lock(self, name: str, holder: str) -> None:
        """`CallStore.release_session_lock`."""
        await self._script(_RELEASE)(keys=[self._session_lock(name)], args=[holder])


def _milliseconds(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))
