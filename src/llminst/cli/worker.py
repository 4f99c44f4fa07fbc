"""`llminst worker`: take the items of every batch queued on a Redis (``llminst batch FILE
--store redis://...``) and run them, until a signal stops it (exit 128 + the signal).

It runs at most ``--parallel`` items at once, each through the supervisor (the model's
concurrency limit and memory admission gate it); results go to Redis, the calls to the call
store. An item whose worker died is taken over by another after ``--claim-timeout`` seconds.
What it must never do: start a process itself, or run without a Redis URL.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

from .._core.records import CallOrigin
from ..store import open_store
from ..supervisor import open_supervisor
from .batch import is_redis_url
from .common import Setup, store_spec

__all__ = ["default_worker_name", "worker", "worker_problem"]


async def worker(args: argparse.Namespace, setup: Setup) -> int:
    url = store_spec(args, setup)
    problem = worker_problem(url, parallel=args.parallel, claim_timeout=args.claim_timeout)
    if problem:
        print(f"llminst: invalid_input: {problem}", file=sys.stderr)
        return 2
    assert url is not None
    from ..batch.redis import open_redis_batch_queue, redacted  # coredis: only when used
    from ..batch.worker import run_worker

    name = args.name or default_worker_name()
    async with (
        open_redis_batch_queue(url) as queue,
        open_store(url, retention_days=setup.store.retention_days) as store,
        open_supervisor(
            models=setup.models,
            settings=setup.settings,
            subreaper=True,
            store=store,
            origin=CallOrigin.BATCH,
            keep_prompts=setup.store.keep_prompts,
            budget=setup.budget,
        ) as supervisor,
    ):
        print(f"llminst: worker {name} takes batch items from {redacted(url)}", file=sys.stderr)
        await run_worker(
            queue,
            supervisor,
            worker=name,
            parallel=args.parallel,
            claim_after_s=args.claim_timeout,
        )
    return 0


def worker_problem(url: str | None, *, parallel: int, claim_timeout: float) -> str | None:
    """What is wrong with a worker's options (None: nothing)."""
    if not is_redis_url(url):
        return (
            "a worker takes its work from Redis: pass --store redis://HOST:PORT/DB (without "
            "Redis, llminst batch FILE runs a batch itself)"
        )
    if claim_timeout <= 0 or parallel < 1:
        return "--claim-timeout must be > 0 seconds and the parallel items >= 1"
    return None


def default_worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"
