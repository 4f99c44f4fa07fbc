"""`RedisBatchQueue`: batches spread over every `llminst worker` on one Redis.

Keys (prefix ``llminst:batch:``):

- ``stream``: one stream for every batch, one entry per item (``batch``, ``item``), read by the
  consumer group ``workers``: a worker takes entries with XREADGROUP, acknowledges each with
  XACK once its result is kept, and takes over entries another worker has held idle longer
  than the claim timeout with XAUTOCLAIM.
- ``{id}:meta`` (hash: total, created_at, source), ``{id}:items`` (item id -> item JSON),
  ``{id}:order`` (list of item ids, file order), ``{id}:results`` (item id -> result JSON,
  written with HSETNX: the first result wins, a second is detected and dropped),
  ``{id}:running`` (item id -> worker), ``{id}:runs`` (item id -> times started), and the
  sorted set ``batches`` (id by creation time).

A live worker is never robbed: while it runs an item it re-claims that entry for itself
(XCLAIM with JUSTID, which resets the entry's idle time; in a script that first checks with
XPENDING that the entry is still its own) every third of the claim timeout, so
only an entry whose worker stopped renewing -- it died, or froze for a whole timeout -- reaches
the idle time XAUTOCLAIM asks for. If a frozen worker wakes up and finishes anyway, HSETNX keeps
the one result that came first: an item may run twice, it never completes twice.

What it must never do: run a call, start a process, acknowledge an entry whose result is not
kept, or keep two results for one item.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import coredis
import coredis.exceptions
import trio

from .._core.batchfile import BatchItem, BatchProgress, ItemResult, progress_of
from .._core.errors import ConfigError, InvalidInputError
from ..logs import get_logger
from ..store.redis.connection import RedisLocation, entered_client
from .queue import Claimed

T = TypeVar("T")

__all__ = [
    "GROUP",
    "PREFIX",
    "REDIS_DOWN",
    "RedisBatchQueue",
    "open_redis_batch_queue",
    "redacted",
    "until_redis_answers",
]

PREFIX = "llminst:batch:"
STREAM = PREFIX + "stream"
BATCHES = PREFIX + "batches"
GROUP = "workers"
# What a command raises while Redis is down or restarting.
REDIS_DOWN = (
    coredis.exceptions.ConnectionError,
    coredis.exceptions.BusyLoadingError,  # restarted, still reading its append-only file
    TimeoutError,
    OSError,
)
_RETRY_FIRST_S = 0.2
_RETRY_MAX_S = 5.0

_log = get_logger()

# Renew only what is still ours: an entry another worker claimed stays theirs (a plain XCLAIM
# would take it back). ARGV: group, consumer, entry ids; returns the ids renewed.
_RENEW = """
local renewed = {}
for i = 3, #ARGV do
  local entry = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #entry > 0 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    table.insert(renewed, ARGV[i])
  end
end
return renewed
"""


@asynccontextmanager
async def open_redis_batch_queue(url: str) -> AsyncIterator[RedisBatchQueue]:
    """A queue on the Redis `url` names: any store URL form (``redis[s]://``,
    ``redis[s]+sentinel://``, ``redis[s]+cluster://``; `store.redis.connection`). Every command
    touches one key, so a cluster needs no hash tag here.

    Raises:
        ConfigError: a bad URL, or Redis cannot be reached at `url` (the message names it,
            password left out, and the fix).
    """
    location = RedisLocation.parse(url)
    try:
        async with entered_client(location) as client:
            queue = RedisBatchQueue(client)
            try:
                await queue.ensure_group()
            except (coredis.exceptions.ConnectionError, OSError) as exc:
                raise ConfigError(
                    f"cannot reach Redis at {redacted(url)} ({exc}); start it, or fix --store",
                    source="--store",
                ) from None
            yield queue
    except BaseExceptionGroup as group:
        # coredis's connection pool is an anyio task group: what the body raised comes out
        # wrapped; callers catch the error itself.
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


async def until_redis_answers(doing: str, command: Callable[[], Awaitable[T]]) -> T:
    """Run `command` until Redis answers it: while Redis is down or restarting, wait (0.2 s,
    doubling to 5 s) and try again, one ``llminst.batch.redis_unreachable`` line each time.

    Cancellation: cancelling the caller ends the wait.
    """
    delay = _RETRY_FIRST_S
    while True:
        try:
            return await command()
        except REDIS_DOWN as exc:
            _log.warning(
                "llminst.batch.redis_unreachable", doing=doing, error=str(exc), retry_in_s=delay
            )
        await trio.sleep(delay)
        delay = min(delay * 2, _RETRY_MAX_S)


def redacted(url: str) -> str:
    """`url` without its password (never logged or printed)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


class RedisBatchQueue:
    """A `BatchQueue` on Redis (see the module's docstring for the keys)."""

    def __init__(self, client: coredis.Redis[str]) -> None:
        self._redis = client
        # XAUTOCLAIM scans the pending list from a cursor (at most 10 entries a call): keep
        # it, so entries behind live workers' ones are reached too; "0-0" starts over.
        self._claim_cursor = "0-0"

    async def ensure_group(self) -> None:
        """Create the stream and its consumer group if they are missing."""
        # Made already by another worker or submitter: the one group they all share.
        with contextlib.suppress(coredis.exceptions.StreamDuplicateConsumerGroupError):
            await self._redis.xgroup_create(STREAM, GROUP, "0", mkstream=True)

    # -- submitting and reading ----------------------------------------------------------

    async def create(
        self, batch_id: str, items: Sequence[BatchItem], *, source: str, now: float
    ) -> None:
        created = await self._redis.hsetnx(_key(batch_id, "meta"), "total", str(len(items)))
        if not created:
            raise InvalidInputError(
                f"batch {batch_id} already exists on this Redis: choose another --id"
            )
        await self._redis.hset(_key(batch_id, "meta"), {"created_at": repr(now), "source": source})
        await self._redis.hset(
            _key(batch_id, "items"), {item.item_id: item.to_json() for item in items}
        )
        await self._redis.rpush(_key(batch_id, "order"), [item.item_id for item in items])
        await self._redis.zadd(BATCHES, {batch_id: now})
        for item in items:  # last: a worker may take an entry as soon as it is added
            await self._redis.xadd(STREAM, {"batch": batch_id, "item": item.item_id})

    async def exists(self, batch_id: str) -> bool:
        return bool(await self._redis.exists([_key(batch_id, "meta")]))

    async def complete(self, claimed: Claimed, result: ItemResult) -> bool:
        kept = await self._redis.hsetnx(
            _key(claimed.batch_id, "results"), result.item_id, result.to_json()
        )
        return bool(kept)

    async def is_done(self, batch_id: str, item_id: str) -> bool:
        return bool(await self._redis.hexists(_key(batch_id, "results"), item_id))

    async def progress(self, batch_id: str) -> BatchProgress | None:
        meta = await self._redis.hgetall(_key(batch_id, "meta"))
        if not meta:
            return None
        results = await self._redis.hvals(_key(batch_id, "results"))
        running = await self._redis.hkeys(_key(batch_id, "running"))
        done_ids = set(await self._redis.hkeys(_key(batch_id, "results")))
        runs = await self._redis.hvals(_key(batch_id, "runs"))
        states = [ItemResult.from_json(text).state for text in results]
        states += ["running" for item_id in running if item_id not in done_ids]
        return progress_of(
            batch_id,
            int(meta["total"]),
            states,
            runs=sum(int(n) for n in runs),
            created_at=float(meta.get("created_at", 0.0)),
            source=meta.get("source", ""),
        )

    async def results(self, batch_id: str) -> list[ItemResult]:
        order = await self._redis.lrange(_key(batch_id, "order"), 0, -1)
        kept = await self._redis.hgetall(_key(batch_id, "results"))
        return [ItemResult.from_json(kept[item_id]) for item_id in order if item_id in kept]

    async def unacknowledged(self) -> int:
        """How many entries (of every batch) workers have taken and not acknowledged."""
        summary = await self._redis.xpending(STREAM, GROUP)
        return int(getattr(summary, "pending", 0))

    async def running_on(self, batch_id: str, worker: str) -> list[str]:
        """The items of `batch_id` that `worker` says it runs now."""
        running = await self._redis.hgetall(_key(batch_id, "running"))
        return sorted(item_id for item_id, name in running.items() if name == worker)

    async def list_batches(self, *, limit: int = 20) -> list[BatchProgress]:
        ids = await self._redis.zrevrange(BATCHES, 0, limit - 1)
        found = [await self.progress(str(batch_id)) for batch_id in ids]
        return [progress for progress in found if progress is not None]

    # -- working ------------------------------------------------------------------------

    async def take(self, worker: str, *, claim_after_s: float, block_s: float) -> Claimed | None:
        """One entry for `worker`: one left idle by another worker for longer than
        `claim_after_s`, else a new one (waiting up to `block_s` for one to come)."""
        try:
            claimed = await self._redis.xautoclaim(
                STREAM, GROUP, worker, int(claim_after_s * 1000), start=self._claim_cursor, count=1
            )
        except coredis.exceptions.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            _log.warning("llminst.batch.group_missing", worker=worker)  # a Redis that lost it
            await self.ensure_group()
            return None
        self._claim_cursor = str(claimed[0]) if claimed else "0-0"
        entries: list[Any] = list(claimed[1]) if claimed else []
        if not entries:
            read = await self._redis.xreadgroup(
                GROUP, worker, streams={STREAM: ">"}, count=1, block=int(block_s * 1000)
            )
            entries = [entry for found in (read or {}).values() for entry in found]
        entries = [entry for entry in entries if entry is not None]
        return await self._claimed(entries[0]) if entries else None

    async def _claimed(self, entry: Any) -> Claimed:
        identifier, fields = entry.identifier, entry.field_values
        batch_id, item_id = fields["batch"], fields["item"]
        text = await self._redis.hget(_key(batch_id, "items"), item_id)
        item = (
            BatchItem.from_json(text)
            if text is not None
            else BatchItem(item_id=item_id, prompt="", model="")
        )
        return Claimed(batch_id, item, identifier)

    async def started(self, claimed: Claimed, worker: str) -> None:
        """Say `worker` runs the item now (status) and count the run."""
        await self._redis.hset(_key(claimed.batch_id, "running"), {claimed.item.item_id: worker})
        await self._redis.hincrby(_key(claimed.batch_id, "runs"), claimed.item.item_id, 1)

    async def renew(self, worker: str, handles: Sequence[str]) -> list[str]:
        """Re-claim those of `handles` still pending on `worker`, resetting their idle time;
        returns the ones another worker has taken over (this one froze for a whole timeout)."""
        if not handles:
            return []
        kept = await self._redis.eval(_RENEW, [STREAM], [GROUP, worker, *handles])
        still = {str(handle) for handle in kept} if isinstance(kept, list | tuple) else set()
        return [handle for handle in handles if handle not in still]

    async def acknowledge(self, claimed: Claimed) -> None:
        """The entry is done with: acknowledge it and forget that it runs."""
        await self._redis.xack(STREAM, GROUP, [claimed.handle])
        await self._redis.hdel(_key(claimed.batch_id, "running"), [claimed.item.item_id])

    async def abandoned(self, claimed: Claimed) -> None:
        """The worker stops without a result: the entry stays pending for another to claim."""
        await self._redis.hdel(_key(claimed.batch_id, "running"), [claimed.item.item_id])


def _key(batch_id: str, part: str) -> str:
    return f"{PREFIX}{batch_id}:{part}"
