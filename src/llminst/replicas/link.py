"""`ReplicaLink`: one process's tie to the other replicas on a Redis (heartbeat, sweeps, the
cancel bus and global leases), run by the supervisor in its nursery.

`open_supervisor(replicas=link)` records its calls under `link.writer`, runs `link.run` (the
heartbeat, a sweep of dead replicas' calls every `ReplicaSettings.sweep_every_s`, the cancel
listener and the lease renewals), asks `link.leases` for a slot before a call of a model with
``concurrency_scope = "global"`` starts, and cancels at once a call whose id is heard on the
cancel bus.

What it must never do: own the Redis client (its opener closes it), or start anything before
`run` is called.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import trio
from attrs import field, frozen

from .._core.spec import Settings
from ..logs import get_logger
from ..store.base import CallStore
from . import cancelbus, heartbeats
from .health import StoreHealth, is_unavailable
from .leases import GlobalLeases

__all__ = ["ReplicaLink", "ReplicaSettings", "link_for_store"]

_log = get_logger()

# How long opening a supervisor waits for the cancel bus's subscription (Redis away: the
# store's polling covers until it is in place).
SUBSCRIBE_WAIT_S = 5.0


def _positive(_instance: object, attribute: Any, value: float) -> None:
    if not value > 0:
        raise ValueError(f"invalid_input: {attribute.name} must be > 0 seconds, got {value!r}")


@frozen(kw_only=True)
class ReplicaSettings:
    """How replicas watch each other.

    Attributes:
        prefix: the prefix of every Redis key and channel (the store's: ``llminst:``).
        heartbeat_lease_s: a writer is dead this long after its last heartbeat.
        heartbeat_every_s: seconds between heartbeats (well under the lease).
        sweep_every_s: seconds between sweeps for dead writers' calls.
        concurrency_lease_s: a global concurrency slot returns this long after its holder
            stopped renewing it (renewed every third of it).
        route_claim_wait_s: how long a session turn offered to the replica on its CLI's host
            waits to be taken before it is withdrawn and replayed here (`routing`).
    """

    prefix: str = "llminst:"
    heartbeat_lease_s: float = field(default=10.0, validator=_positive)
    heartbeat_every_s: float = field(default=3.0, validator=_positive)
    sweep_every_s: float = field(default=5.0, validator=_positive)
    concurrency_lease_s: float = field(default=30.0, validator=_positive)
    route_claim_wait_s: float = field(default=5.0, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.heartbeat_every_s >= self.heartbeat_lease_s:
            raise ValueError(
                "invalid_input: heartbeat_every_s must be shorter than heartbeat_lease_s "
                f"({self.heartbeat_every_s} >= {self.heartbeat_lease_s}); beat a few times "
                "per lease (e.g. every 3 s for a 10 s lease)"
            )

    @classmethod
    def of(cls, settings: Settings, *, prefix: str = "llminst:") -> ReplicaSettings:
        """The replica settings a config's ``[settings]`` table chose."""
        return cls(
            prefix=prefix,
            heartbeat_lease_s=settings.heartbeat_lease_s,
            heartbeat_every_s=settings.heartbeat_every_s,
            sweep_every_s=settings.replica_sweep_s,
            concurrency_lease_s=settings.concurrency_lease_s,
        )


class ReplicaLink:
    """This process among the replicas sharing one Redis.

    Args:
        client: a coredis client (``decode_responses=True``), opened by the caller.
        writer: this process's writer identity (`supervisor.recorder.writer_identity`).
        settings: leases and intervals.
        health: the store's degraded flag (shared with the store and the recorder).
    """

    def __init__(
        self,
        client: Any,
        writer: str,
        settings: ReplicaSettings = ReplicaSettings(),
        *,
        health: StoreHealth | None = None,
    ) -> None:
        # coredis logs every reconnection try at INFO: while Redis is down that is a line per
        # command; the degraded/recovered pair says it once.
        logging.getLogger("coredis").setLevel(logging.WARNING)
        self.client = client
        self.writer = writer
        self.settings = settings
        self.health = health or StoreHealth()
        self.heartbeat = heartbeats.Heartbeat(
            client,
            writer,
            prefix=settings.prefix,
            lease_s=settings.heartbeat_lease_s,
            every_s=settings.heartbeat_every_s,
            health=self.health,
        )
        self.leases = GlobalLeases(
            client,
            prefix=settings.prefix,
            lease_s=settings.concurrency_lease_s,
            health=self.health,
        )

    async def publish_cancel(self, call_id: str) -> None:
        """Tell the replica running `call_id` to cancel it now (a failure is logged: the
        store's request is still polled)."""
        try:
            await cancelbus.publish_cancel(self.client, self.settings.prefix, call_id)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            self.health.failed(exc, what="cancel")

    async def sweep(self, store: CallStore) -> int:
        """Mark calls of writers whose heartbeat lapsed as interrupted; how many (0 when
        Redis or the store cannot be reached)."""
        try:
            count = await heartbeats.sweep(store, self.client, prefix=self.settings.prefix)
        except Exception as exc:
            if not is_unavailable(exc):
                _log.warning("llminst.replica.sweep_failed", error=repr(exc))
                return 0
            self.health.failed(exc, what="sweep")
            return 0
        return count

    async def run(
        self,
        store: CallStore,
        on_cancel: Callable[[str], None],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Beat, sweep, listen for cancels and renew leases until cancelled; started once the
        first heartbeat was tried and the cancel listener subscribed (or `SUBSCRIBE_WAIT_S`
        passed).

        Cancellation: the heartbeat key is dropped (shielded), so the others know at once
        that this writer's calls ended.
        """
        try:
            async with trio.open_nursery() as nursery:
                await self.heartbeat.beat()
                subscribed = trio.Event()
                prefix = self.settings.prefix
                nursery.start_soon(cancelbus.listen, self.client, prefix, on_cancel, subscribed)
                with trio.move_on_after(SUBSCRIBE_WAIT_S):  # Redis away: calls must not wait
                    await subscribed.wait()
                nursery.start_soon(self.heartbeat.run)
                nursery.start_soon(self._sweep_forever, store)
                nursery.start_soon(self.leases.run)
                task_status.started()
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await self.heartbeat.stop()

    async def _sweep_forever(self, store: CallStore) -> None:
        while True:
            await self.sweep(store)
            await trio.sleep(self.settings.sweep_every_s)


def link_for_store(store: CallStore, settings: Settings, *, writer: str) -> ReplicaLink | None:
    """The link a Redis store implies (its client and key prefix, `settings`' times), so
    every process writing to a shared Redis heartbeats, listens for cancels and holds global
    leases; None for any other store."""
    from ..store.redis import RedisStore  # loads without coredis; only a RedisStore needs it

    if not isinstance(store, RedisStore):
        return None
    return ReplicaLink(
        store.client, writer, ReplicaSettings.of(settings, prefix=store.location.prefix)
    )
