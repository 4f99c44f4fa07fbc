"""Running a batch's items: `run_item` (one item to its result) and `run_local` (a batch in
this process, from a `SQLiteBatchQueue`); `worker.run_worker` does it from Redis.

Every item runs through `Supervisor.run`, so the model's concurrency limit and the memory
admission gate it as they gate any call; `parallel` only bounds how many items this process
holds at once. An item ends with one `ItemResult` (succeeded, or failed with the error's kind
and message); a cancelled item (a signal, a worker stopping) gets none and stays to be run
again: by `llminst batch resume` locally, by another worker's claim on Redis.

What it must never do: start a process itself, acknowledge an item whose result is not kept,
or run an item that already has its result.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import trio

from .._core.batchfile import BatchItem, ItemResult
from .._core.errors import LLMError
from ..logs import get_logger
from ..supervisor import Supervisor
from .queue import BatchQueue, Claimed
from .sqlite import SQLiteBatchQueue

__all__ = ["LOCAL", "keep_result", "run_item", "run_local"]

LOCAL = "local"

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
            await keep_result(queue, claimed, result)
            on_result(result)

    async with trio.open_nursery() as nursery:
        for _ in range(parallel):
            nursery.start_soon(lane)


async def keep_result(queue: BatchQueue, claimed: Claimed, result: ItemResult) -> None:
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
