"""`RedisStore`: the `CallStore` on a Redis server that several llminst replicas share, through
`coredis` (built on anyio: it runs on trio). ``--store redis://HOST:PORT/DB`` (or ``rediss://``
for TLS; the password from the URL or ``$LLMINST_REDIS_PASSWORD``; ``?prefix=`` for the keys'
prefix, ``llminst:`` by default) opens it; ``redis+sentinel://`` and ``redis+cluster://``
reach a Sentinel-watched primary or a Redis Cluster (the forms in `connection`), over TLS as
``rediss+sentinel://`` and ``rediss+cluster://`` (the options in `tls`).

The key layout is in `connection`'s docstring; each concern has its module: `calls` (records,
index, cancel requests, purge), `output` (a Redis stream per call), `sessions`, `shared`
(cooldowns, cache, ledger, budget reservations), `tallies` (the budget ledger's running totals
per period), `sessionlocks` (one turn of a session at a time across replicas), `pipelined` (the
recorder's queued writes in one round trip). Every write is one Lua script or a pipeline, so
recording a call costs a handful of commands in one or two round trips.

What it must never do: start a process, log the password, or raise for a missing record.
"""

from __future__ import annotations

from typing import Any

from ...logs import get_logger
from .calls import SCRIPTS as CALL_SCRIPTS
from .calls import CallsMixin
from .connection import (
    ClientHolder,
    Keys,
    RedisLocation,
    StoreUnreachableError,
    connect,
    is_redis_url,
)
from .output import SCRIPTS as OUTPUT_SCRIPTS
from .output import OutputMixin
from .sessionlocks import SCRIPTS as SESSION_LOCK_SCRIPTS
from .sessionlocks import SessionLocksMixin
from .sessions import SessionsMixin
from .shared import SCRIPTS as SHARED_SCRIPTS
from .shared import SharedMixin
from .tallies import SCRIPTS as TALLY_SCRIPTS
from .tallies import TalliesMixin, count_existing

__all__ = ["RedisLocation", "RedisStore", "StoreUnreachableError", "is_redis_url"]

_log = get_logger()

SCRIPTS = (*CALL_SCRIPTS, *OUTPUT_SCRIPTS, *SHARED_SCRIPTS, *TALLY_SCRIPTS, *SESSION_LOCK_SCRIPTS)


class RedisStore(
    CallsMixin,
    OutputMixin,
    SessionsMixin,
    SharedMixin,
    TalliesMixin,
    SessionLocksMixin,
):
    """A `CallStore` in Redis; made by `RedisStore.open` (or `llminst.store.open_store`).

    Args:
        holder: an entered `coredis.Redis` client in its holder (`connection.connect`).
        location: where it points (its `shown` form names it in messages).
    """

    def __init__(self, holder: ClientHolder, location: RedisLocation) -> None:
        self._holder = holder
        self._redis = holder.client
        self._keys = Keys(location.prefix)
        self._scripts: dict[str, Any] = {}
        self.location = location
        self._closed = False

    @classmethod
    async def open(cls, url: str) -> RedisStore:
        """Connect to the Redis `url` names and check it answers.

        Raises:
            ConfigError: a bad URL, or coredis missing (install ``llminst[redis]``).
            StoreUnreachableError: nothing answers there (one line naming host:port and the fix).
        """
        location = RedisLocation.parse(url)
        holder = await connect(location)
        store = cls(holder, location)
        try:
            for source in SCRIPTS:  # loaded now: no failed EVALSHA on each one's first use
                await holder.client.script_load(source)
            await count_existing(holder.client, store._keys, store._script)
        except BaseException:
            await store.aclose()
            raise
        _log.debug("llminst.store.redis_connected", server=location.shown)
        return store

    @property
    def client(self) -> Any:
        """The coredis client, shared with the replicas' heartbeats, cancel bus and leases."""
        return self._redis

    def _script(self, source: str) -> Any:
        """The registered Lua script of `source` (EVALSHA; loaded once per server)."""
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self._redis.register_script(source)
        return script

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._holder.close()
