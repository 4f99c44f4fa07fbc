"""`llminst batch`: run a JSONL file of prompts, and read batches back.

- ``llminst batch FILE.jsonl``: with a SQLite (or memory) store, runs the batch here, a
  progress bar on a terminal's stderr (a plain line per finished item otherwise), and prints
  the batch id on stdout at the end. Interrupted (a signal: exit 128 + the signal), it resumes
  with ``llminst batch resume ID`` (or the same command with ``--id ID``): completed items are
  skipped, interrupted ones run again. With ``--store redis://...`` it only enqueues the batch
  (id on stdout) for `llminst worker` processes on that Redis.
- ``status ID`` (a bar on a terminal, a plain line otherwise, ``--json``), ``results ID``
  (JSONL: id, model, state, answer, error, call_id, worker), ``list``.

Every line of the file is checked before anything runs (``invalid_input: line N: ...``, exit 2).
What it must never do: start a process itself (items run through the supervisor), or write
anything but ids, status and results to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import trio
from rich.console import Console, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table

from .._core.batchfile import BatchItem, BatchProgress, ItemResult, parse_batch
from .._core.errors import InvalidInputError
from .._core.records import CallOrigin
from ..batch.queue import BatchQueue
from ..batch.runner import run_local
from ..batch.sqlite import SQLiteBatchQueue
from ..store import store_path
from ..store.redis.connection import is_redis_url as is_redis_store_url
from ..supervisor import open_supervisor
from .common import Setup, open_command_store, store_spec

__all__ = ["ACTIONS", "batch", "is_redis_url"]

ACTIONS = ("status", "results", "list", "resume")
_BAR_WIDTH = 40


def is_redis_url(spec: str | None) -> bool:
    """Whether a store spec names Redis (the queue and the call records are then there)."""
    return spec is not None and is_redis_store_url(spec)


async def batch(args: argparse.Namespace, setup: Setup) -> int:
    words: list[str] = args.words
    # A batch file named like an action is given as ./status.
    action = words[0] if words[0] in ACTIONS else None
    try:
        if action is None:
            return await _submit(args, setup, Path(words[0]), extra=words[1:])
        if action == "list":
            return await _list(args, setup, extra=words[1:])
        batch_id = _one_id(action, words[1:])
        if action == "resume":
            return await _run_here(args, setup, batch_id, items=None)
        if action == "status":
            return await _status(args, setup, batch_id)
        return await _results(args, setup, batch_id)
    except InvalidInputError as exc:
        _say(f"{exc.kind}: {exc.message}")
        return 2


def _one_id(action: str, rest: list[str]) -> str:
    if len(rest) != 1:
        raise InvalidInputError(
            f"llminst batch {action} takes one batch id (see llminst batch list), got {len(rest)}"
        )
    return rest[0]


# -- submitting and running --------------------------------------------------------------


async def _submit(args: argparse.Namespace, setup: Setup, file: Path, *, extra: list[str]) -> int:
    if extra:
        raise InvalidInputError(f"llminst batch takes one FILE, got extra {' '.join(extra)!r}")
    try:
        text = await trio.Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read batch file {str(file)!r}: {exc}") from None
    try:
        items = parse_batch(text, default_model=args.model)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{file}: {exc.message}") from None
    spec = store_spec(args, setup)
    batch_id = args.id or _new_batch_id()
    if is_redis_url(spec):
        assert spec is not None
        from ..batch.redis import open_redis_batch_queue  # coredis: only when used

        async with open_redis_batch_queue(spec) as queue:
            await queue.create(batch_id, items, source=str(file), now=time.time())
        _say(f"batch {batch_id}: {len(items)} items queued; llminst worker --store URL runs them")
        print(batch_id, flush=True)
        return 0
    return await _run_here(args, setup, batch_id, items=items, source=str(file))


def _new_batch_id() -> str:
    return time.strftime("b%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


async def _run_here(
    args: argparse.Namespace,
    setup: Setup,
    batch_id: str,
    *,
    items: list[BatchItem] | None,
    source: str = "",
) -> int:
    """Run the batch in this process (creating it first unless it exists: `--id` resumes)."""
    _refuse_redis(args, setup, "resume")
    async with open_command_store(args, setup) as store, _local_queue(args, setup) as queue:
        if not await queue.exists(batch_id):
            if items is None:
                raise InvalidInputError(
                    f"no batch {batch_id} in this store; see llminst batch list"
                )
            await queue.create(batch_id, items, source=source, now=time.time())
        progress = await queue.progress(batch_id)
        assert progress is not None
        resumable = store_path(store_spec(args, setup)) is not None
        _say(
            f"batch {batch_id}: {progress.total} items, {progress.done} done; "
            + (
                f"if interrupted, continue with llminst batch resume {batch_id}"
                if resumable
                else "a memory store: an interrupted batch cannot be resumed"
            )
        )
        async with open_supervisor(
            models=setup.models,
            settings=setup.settings,
            subreaper=True,
            store=store,
            origin=CallOrigin.BATCH,
            keep_prompts=setup.store.keep_prompts,
            budget=setup.budget,
        ) as supervisor:
            with _LiveProgress(progress) as shown:
                await run_local(
                    queue, supervisor, batch_id, parallel=args.parallel, on_result=shown.add
                )
        final = await queue.progress(batch_id)
    assert final is not None
    _say(final.line())
    print(batch_id, flush=True)
    return 0 if final.failed == 0 else 1


def _refuse_redis(args: argparse.Namespace, setup: Setup, what: str) -> None:
    if is_redis_url(store_spec(args, setup)):
        raise InvalidInputError(
            f"llminst batch {what} runs a batch in this process, from a SQLite store; on Redis "
            "the workers (llminst worker) run batches and resume them by themselves"
        )


@asynccontextmanager
async def _local_queue(args: argparse.Namespace, setup: Setup) -> AsyncIterator[SQLiteBatchQueue]:
    queue = await SQLiteBatchQueue.open(store_path(store_spec(args, setup)))
    try:
        yield queue
    finally:
        with trio.CancelScope(shield=True):
            await queue.aclose()


@asynccontextmanager
async def _any_queue(args: argparse.Namespace, setup: Setup) -> AsyncIterator[BatchQueue]:
    spec = store_spec(args, setup)
    if is_redis_url(spec):
        assert spec is not None
        from ..batch.redis import open_redis_batch_queue  # coredis: only when used

        async with open_redis_batch_queue(spec) as redis_queue:
            yield redis_queue
    else:
        async with open_command_store(args, setup), _local_queue(args, setup) as queue:
            yield queue


class _LiveProgress:
    """A run's progress as it goes: a bar on a terminal's stderr, else a line per item."""

    def __init__(self, start: BatchProgress) -> None:
        self._progress = attrs.evolve(start, running=0)  # a resumed run requeues them
        self._console = Console(stderr=True, highlight=False)
        self._live = self._console.is_terminal

    def __enter__(self) -> _LiveProgress:
        if self._live:
            self._console.print(_bar(self._progress), end="\r")
        return self

    def __exit__(self, *_: object) -> None:
        if self._live:
            self._console.print()

    def add(self, result: ItemResult) -> None:
        succeeded = result.state == "succeeded"
        self._progress = attrs.evolve(
            self._progress,
            succeeded=self._progress.succeeded + succeeded,
            failed=self._progress.failed + (not succeeded),
        )
        if self._live:
            self._console.print(_bar(self._progress), end="\r")
        else:
            _say(f"{result.item_id} {result.state}: {self._progress.line()}")


# -- reading -----------------------------------------------------------------------------


async def _status(args: argparse.Namespace, setup: Setup, batch_id: str) -> int:
    async with _any_queue(args, setup) as queue:
        progress = await queue.progress(batch_id)
    if progress is None:
        _say(f"unknown_batch: no batch {batch_id} in this store; see llminst batch list")
        return 1
    if args.json:
        print(json.dumps(progress.to_dict()))
    elif sys.stdout.isatty():
        Console(highlight=False).print(_bar(progress))
    else:
        print(progress.line())
    return 0


def _bar(progress: BatchProgress) -> RenderableType:
    grid = Table.grid(padding=(0, 1))
    grid.add_row(
        progress.batch_id,
        ProgressBar(total=max(progress.total, 1), completed=progress.done, width=_BAR_WIDTH),
        f"{progress.done}/{progress.total}",
        f"{progress.succeeded} ok, {progress.failed} failed, {progress.running} running",
    )
    return grid


async def _results(args: argparse.Namespace, setup: Setup, batch_id: str) -> int:
    async with _any_queue(args, setup) as queue:
        if not await queue.exists(batch_id):
            _say(f"unknown_batch: no batch {batch_id} in this store; see llminst batch list")
            return 1
        results = await queue.results(batch_id)
    lines = "".join(result.to_json() + "\n" for result in results)
    if args.output:
        await trio.Path(args.output).write_text(lines, encoding="utf-8")
    else:
        sys.stdout.write(lines)
        sys.stdout.flush()
    return 0


async def _list(args: argparse.Namespace, setup: Setup, *, extra: list[str]) -> int:
    if extra:
        raise InvalidInputError("llminst batch list takes no arguments")
    async with _any_queue(args, setup) as queue:
        batches = await queue.list_batches(limit=args.limit)
    if args.json:
        print(json.dumps([progress.to_dict() for progress in batches]))
    else:
        for progress in batches:
            print(progress.line())
    return 0


def _say(text: str) -> None:
    print(f"llminst: {text}", file=sys.stderr, flush=True)
