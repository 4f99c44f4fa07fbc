"""Batches: a JSONL file of prompts run to one result per item, here or across machines.

`queue.BatchQueue` is what a batch's queue offers; `sqlite.SQLiteBatchQueue` keeps batches in
the call store's SQLite file and runs them in the command's own process (resumable);
`redis.RedisBatchQueue` spreads them over `llminst worker` processes through a Redis stream and
consumer group; `runner` runs items through the supervisor (`run_local`), and `worker` takes
them from Redis (`run_worker`). The
file format and the result records are pure (`llminst._core.batchfile`).

What this package must never do: start a process itself (items run through the supervisor,
under its concurrency limits and memory admission), or keep two results for one item.
"""

from __future__ import annotations

from .queue import BatchQueue, Claimed
from .runner import run_item, run_local
from .sqlite import SQLiteBatchQueue

# The Redis side (`redis`, `worker`) is imported where it is used: coredis takes a while to
# import, and a command that does not talk to Redis should not pay for it.
__all__ = ["BatchQueue", "Claimed", "SQLiteBatchQueue", "run_item", "run_local"]
