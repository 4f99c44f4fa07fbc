"""`run_worker`: one `llminst worker` (or `llminst serve --worker`) taking items from every batch
on a `RedisBatchQueue` and running them through the supervisor (`runner.run_item`).

It holds at most `parallel` entries at once, re-claims those it holds every third of the claim
timeout (so no other worker takes them while it lives), takes over entries other workers left
idle longer than that, and acknowledges an entry only once its result is kept. While Redis
cannot be reached it waits and retries each step; a finished call's result waits in memory.

What it must never do: start a process itself, acknowledge an entry whose result is not kept,
run an item that already has its result, or run twice an entry it already holds.
"""

from __future__ import annotations

import contextlib

import coredis.exceptions
import trio

from ..logs import get_logger
from ..supervisor import Supervisor
from .queue import Claimed
from .redis import REDIS_DOWN, RedisBatchQueue, until_redis_answers
from .runner import keep_result, run_item

__all__ = ["run_worker"]

_RELEASE_WAIT_S = 5.0  # how long a stopping worker tries to say it let an item go

_log = get_logger()


async def run_worker(
    queue: RedisBatchQueue,
    supervisor: Supervisor,
    *,
    worker: str,
    parallel: int,
    claim_after_s: float,
    block_s: float = 1.0,
) -> None:
    """Take items from every batch on the queue and run them, `parallel` at a time, until
    cancelled. Entries this worker holds are re-claimed every third of `claim_after_s`, so no
    other worker takes them while this one lives. While Redis cannot be reached the worker
    waits and retries (``llminst.batch.redis_unreachable``): running calls go on, and a
    finished call's result is kept in memory until Redis takes it.

    Cancellation: running calls are cancelled; their entries stay pending (unacknowledged)
    for another worker to claim after `claim_after_s`.
    """
    await _Worker(queue, supervisor, worker, parallel, claim_after_s, block_s).run()


class _Worker:
    """One `run_worker`: the entries it holds, the slots left, the loops that take and renew."""

    def __init__(
        self,
        queue: RedisBatchQueue,
        supervisor: Supervisor,
        name: str,
        parallel: int,
        claim_after_s: float,
        block_s: float,
    ) -> None:
        self.queue, self.supervisor, self.name = queue, supervisor, name
        self.parallel, self.claim_after_s, self.block_s = parallel, claim_after_s, block_s
        self.held: dict[str, Claimed] = {}
        self.slots = trio.Semaphore(parallel)

    async def run(self) -> None:
        _log.info("llminst.batch.worker_started", worker=self.name, parallel=self.parallel)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._renew_loop)
            while True:
                await self.slots.acquire()
                claimed = await until_redis_answers(
                    "take",
                    lambda: self.queue.take(
                        self.name, claim_after_s=self.claim_after_s, block_s=self.block_s
                    ),
                )
                if claimed is None or claimed.handle in self.held:
                    # Nothing new, or one of this worker's own entries that went unrenewed
                    # while Redis was away: it runs here already (the claim renewed it).
                    self.slots.release()
                    continue
                self.held[claimed.handle] = claimed
                nursery.start_soon(self._serve, claimed)

    async def _serve(self, claimed: Claimed) -> None:
        try:
            await _serve_entry(self.queue, self.supervisor, claimed, self.name)
            # No longer renewed from here on (an acknowledged entry is no one's: a renewal
            # would call it taken over).
            self.held.pop(claimed.handle, None)
            await until_redis_answers("acknowledge", lambda: self.queue.acknowledge(claimed))
        finally:
            self.held.pop(claimed.handle, None)
            self.slots.release()

    async def _renew_loop(self) -> None:
        while True:
            await trio.sleep(self.claim_after_s / 3)
            try:
                lost = await self.queue.renew(self.name, list(self.held))
            except (*REDIS_DOWN, coredis.exceptions.ResponseError) as exc:
                _log.warning("llminst.batch.redis_unreachable", doing="renew", error=str(exc))
                continue
            for handle in lost:
                if (claimed := self.held.get(handle)) is not None:
                    # This worker froze for a whole timeout; its result may still come
                    # first (HSETNX keeps one).
                    _log.warning(
                        "llminst.batch.entry_taken_over",
                        batch=claimed.batch_id,
                        item=claimed.item.item_id,
                        worker=self.name,
                    )


async def _serve_entry(
    queue: RedisBatchQueue, supervisor: Supervisor, claimed: Claimed, worker: str
) -> None:
    """Run the entry's item unless it has its result, and keep the result (the caller then
    acknowledges the entry)."""
    item = claimed.item
    if await until_redis_answers("check", lambda: queue.is_done(claimed.batch_id, item.item_id)):
        _log.info("llminst.batch.already_done", batch=claimed.batch_id, item=item.item_id)
        return
    await until_redis_answers("start", lambda: queue.started(claimed, worker))
    try:
        result = await run_item(supervisor, item, worker=worker)
    except BaseException:
        with trio.move_on_after(_RELEASE_WAIT_S) as scope, contextlib.suppress(*REDIS_DOWN):
            scope.shield = True
            await queue.abandoned(claimed)
        raise
    await until_redis_answers("keep", lambda: keep_result(queue, claimed, result))
