"""Running a batch's items: `run_local` (this process, from a `SQLiteBatchQueue`) and
`run_worker` (one `llminst worker`, from a `RedisBatchQueue`).

Every item runs through `Supervisor.run`, so the model's concurrency limit and the memory
admission gate it as they gate any call; `parallel` only bounds how many items this process
holds at once. An item ends with one `ItemResult` (succeeded, or failed with the error's kind
and message); a cancelled item (a signal, a worker stopping) gets none and stays to be run
again: by `llminst batch resume` locally, by another worker's claim on Redis.

What it must never do: start a process itself, acknowledge an item whose result is not kept,
or run an item that already has its result.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable

import coredis.exceptions
import trio

from .._core.batchfile import BatchItem, ItemResult
from .._core.errors import LLMError
from ..logs import get_logger
from ..supervisor import Supervisor
from .queue import Claimed
from .redis import REDIS_DOWN, RedisBatchQueue, until_redis_answers
from .sqlite import SQLiteBatchQueue

__all__ = ["run_item", "run_local", "run_worker"]

LOCAL = "local"
_RELEASE_WAIT_S = 5.0  # how long a stopping worker tries to say it let an item go

_log = get_logger()


async def run_item(supervisor: Supervisor, item: BatchItem, *, worker: str) -> ItemResult:
    """Run one item to its result (a failed call is a result; cancellation is not)."""
    json_mode = item.json_schema is not None
    try:
        result = await supervisor.run(
            item.model,
            item.prompt,
            json_mode=json_mode,
            json_schema=item.json_schema,
            session=item.session,
        )
    except LLMError as exc:
        return ItemResult(
            item_id=item.item_id,
            model=item.model,
            state="failed",
            error=f"{exc.kind}: {exc.message}",
            call_id=exc.result.call_id if exc.result is not None else None,
            worker=worker,
        )
    answer = json.dumps(result.parsed_json, ensure_ascii=False) if json_mode else result.output
    return ItemResult(
        item_id=item.item_id,
        model=result.model or item.model,
        state="succeeded",
        answer=answer,
        call_id=result.call_id,
        worker=worker,
    )


async def run_local(
    queue: SQLiteBatchQueue,
    supervisor: Supervisor,
    batch_id: str,
    *,
    parallel: int,
    on_result: Callable[[ItemResult], None] = lambda _: None,
) -> None:
    """Run every pending item of `batch_id` in this process, `parallel` at a time.

    Cancellation: the running items' calls are cancelled (their trees killed and reaped) and
    stay ``running`` in the queue; `SQLiteBatchQueue.requeue` makes them pending again.
    """
    requeued = await queue.requeue(batch_id)
    _log.info("llminst.batch.local_started", batch=batch_id, requeued=requeued)

    async def lane() -> None:
        while (claimed := await queue.take(batch_id)) is not None:
            result = await run_item(supervisor, claimed.item, worker=LOCAL)
            await _keep(queue, claimed, result)
            on_result(result)

    async with trio.open_nursery() as nursery:
        for _ in range(parallel):
            nursery.start_soon(lane)


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
    item = claimed.item
    if await until_redis_answers("check", lambda: queue.is_done(claimed.batch_id, item.item_id)):
        _log.info("llminst.batch.already_done", batch=claimed.batch_id, item=item.item_id)
        await until_redis_answers("acknowledge", lambda: queue.acknowledge(claimed))
        return
    await until_redis_answers("start", lambda: queue.started(claimed, worker))
    try:
        result = await run_item(supervisor, item, worker=worker)
    except BaseException:
        with trio.move_on_after(_RELEASE_WAIT_S) as scope, contextlib.suppress(*REDIS_DOWN):
            scope.shield = True
            await queue.abandoned(claimed)
        raise
    await until_redis_answers("keep", lambda: _keep(queue, claimed, result))
    await until_redis_answers("acknowledge", lambda: queue.acknowledge(claimed))


async def _keep(
    queue: SQLiteBatchQueue | RedisBatchQueue, claimed: Claimed, result: ItemResult
) -> None:
    kept = await queue.complete(claimed, result)
    event = "llminst.batch.item_done" if kept else "llminst.batch.duplicate_result"
    _log.info(
        event,
        batch=claimed.batch_id,
        item=result.item_id,
        state=result.state,
        call_id=result.call_id,
        worker=result.worker,
    )
