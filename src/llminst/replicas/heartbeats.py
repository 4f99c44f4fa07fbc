"""Heartbeats: each writing process says it is alive; calls of a process that stopped saying so
become ``interrupted``.

A call's record names its writer (``host:pid:start``, `supervisor.recorder.writer_identity`).
With replicas on several machines a process cannot look another machine's PID up in /proc, so
each writer refreshes ``<prefix>writer:<writer>`` in Redis with a time to live (the lease):
`Heartbeat.run` sets it every `every_s` with a TTL of `lease_s`. `sweep` (run at open and
periodically by every replica) marks the queued and running calls whose writer's key has
lapsed as ``interrupted``, keeping their partial output (`CallStore.interrupt_running`).

What it must never do: mark a call interrupted while its writer's key exists (a slow writer
keeps its calls), or fail because Redis is unreachable (the beat is retried; the next sweep
catches up). A beat that finds its own key gone although it renewed it in time tells the
store's health that Redis lost its data (`StoreHealth.emptied`).
"""

from __future__ import annotations

import time
from typing import Any

import trio

from .._core.records import CallState
from ..logs import get_logger
from ..store.base import CallStore
from .health import StoreHealth, is_unavailable

__all__ = ["Heartbeat", "lapsed_writers", "sweep", "writer_key"]

_log = get_logger()

_SWEEP_LIMIT = 10_000  # calls looked at per sweep (running calls, not the store's history)


def writer_key(prefix: str, writer: str) -> str:
    """The Redis key whose existence says `writer` is alive."""
    return f"{prefix}writer:{writer}"


class Heartbeat:
    """Keeps `writer`'s key alive while `run` runs.

    Args:
        client: a coredis client (``decode_responses=True``).
        writer: this process's writer identity.
        prefix: the keys' prefix.
        lease_s: the key's time to live: others see this writer dead that long after its
            last beat.
        every_s: seconds between beats (well under `lease_s`).
        health: told of each failure and success.
    """

    def __init__(
        self,
        client: Any,
        writer: str,
        *,
        prefix: str,
        lease_s: float,
        every_s: float,
        health: StoreHealth,
    ) -> None:
        self.client = client
        self.writer = writer
        self.key = writer_key(prefix, writer)
        self.lease_s = lease_s
        self.every_s = every_s
        self.health = health
        self._beaten = False

    async def beat(self) -> bool:
        """Refresh the key once; False if Redis could not be reached."""
        lease_ms = max(1, int(self.lease_s * 1000))
        try:
            previous = await self.client.set(self.key, str(time.time()), px=lease_ms, get=True)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            self.health.failed(exc, what="heartbeat")
            return False
        if self._beaten and previous is None:  # renewed in time, yet gone: Redis lost its data
            self.health.emptied(what="heartbeat")
        self._beaten = True
        self.health.succeeded()
        return True

    async def run(self) -> None:
        """Beat every `every_s`, forever (a task of the supervisor's nursery)."""
        while True:
            await self.beat()
            await trio.sleep(self.every_s)

    async def stop(self) -> None:
        """This writer closes cleanly: drop its key at once (its calls have ended)."""
        self._beaten = False
        try:
            await self.client.delete([self.key])
        except Exception as exc:
            if not is_unavailable(exc):
                raise


async def lapsed_writers(client: Any, prefix: str, writers: set[str]) -> set[str]:
    """Those of `writers` whose heartbeat key is gone."""
    ordered = sorted(writers)
    if not ordered:
        return set()
    values = await client.mget([writer_key(prefix, writer) for writer in ordered])
    return {writer for writer, value in zip(ordered, values, strict=True) if value is None}


async def sweep(store: CallStore, client: Any, *, prefix: str) -> int:
    """Mark queued and running calls whose writer's heartbeat lapsed as interrupted; how many.

    A call with no writer counts as gone (as `CallStore.interrupt_running` says); a writer
    that appears after the heartbeats were read counts as alive.
    """
    records = await store.list_calls(
        states=[CallState.QUEUED, CallState.RUNNING], limit=_SWEEP_LIMIT
    )
    writers = {record.writer for record in records if record.writer}
    lapsed = await lapsed_writers(client, prefix, writers)
    if not lapsed and all(record.writer for record in records):
        return 0
    count = await store.interrupt_running(
        now=time.time(), writer_alive=lambda writer: writer not in lapsed
    )
    if count:
        _log.info("llminst.replica.calls_interrupted", calls=count, writers=sorted(lapsed))
    return count
