"""`open_supervisor`: the one way to make a `Supervisor`, and the block every call ends within.

It opens the store's recorder, loads cooldowns, enables the subreaper when asked, opens the
nursery that jobs, streams and probes run in, and on leaving cancels every call and waits,
shielded, until each process tree is reaped and the store has what was queued.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

import trio

from .._core.backoff import BackoffPolicy
from .._core.builtins import BUILTIN_MODELS
from .._core.records import CallOrigin
from .._core.spec import BudgetSettings, ModelSpec, Settings
from ..logs import ensure_logging
from ..replicas import ReplicaLink
from ..replicas.link import link_for_store
from ..store import CallStore, MemoryStore
from . import reaper
from .cancels import CancelWatch
from .cooldowns import CooldownKeeper
from .facade import CONSTRUCTED_BY_OPEN_SUPERVISOR, Supervisor
from .memory import read_available_mb
from .recorder import Recorder, writer_identity
from .routed import start_routing

__all__ = ["open_supervisor"]


@asynccontextmanager
async def open_supervisor(
    *,
    models: Mapping[str, ModelSpec] = BUILTIN_MODELS,
    settings: Settings = Settings(),  # noqa: B008 - frozen: one shared default is safe
    base_env: Mapping[str, str] | None = None,
    backoff: BackoffPolicy = BackoffPolicy(),  # noqa: B008 - frozen, as above
    seed: int | None = None,
    subreaper: bool = False,
    store: CallStore | None = None,
    origin: CallOrigin = CallOrigin.LIBRARY,
    keep_prompts: bool = True,
    allowed_roots: Sequence[str] | None = None,
    wall_clock: Callable[[], float] = time.time,
    available_memory_mb: Callable[[], float | None] = read_available_mb,
    budget: BudgetSettings = BudgetSettings(),  # noqa: B008 - frozen, as above
    watch_cancels: bool | None = None,
    replicas: ReplicaLink | None = None,
    host: str | None = None,
) -> AsyncIterator[Supervisor]:
    """Open a supervisor; every call made through it is over when the block is left.

    Args:
        models: the models it knows (default: the built-ins).
        settings: concurrency, grace period, output cap, stderr tail.
        base_env: the environment CLIs start from (None: this process's, as it is at each
            spawn).
        backoff: the rate-limit backoff policy.
        seed: seeds the backoff jitter (for reproducible tests; None: unseeded).
        subreaper: make this process a child subreaper while the block runs (Linux only; a
            no-op elsewhere), so descendants that leave their call's process group with
            ``setsid`` are found, killed and reaped too. It assumes llminst owns every child
            of the process (stray zombie children are reaped), so it is for servers
            (``llminst serve``), not for libraries embedding llminst. See `reaper`.
        store: where every call (record and output, as it streams) and session is kept
            (None: a `MemoryStore` of this supervisor's own). The caller owns a store it
            passes: it opens and closes it around this block.
        origin: who asks for the calls (recorded with each).
        keep_prompts: record each call's prompt.
        allowed_roots: directories under which a call's ``cwd`` must lie (compared as real
            paths); None (the default): any directory; empty: no call may choose one.
        wall_clock: epoch seconds now, for reset times and cooldowns (tests pass a virtual
            one). Cooldowns are loaded from `store` when the block is entered.
        available_memory_mb: the machine's available memory in MB, read before a call starts
            (default: ``MemAvailable`` of /proc/meminfo; None: unknown, calls start). Tests
            pass their own to stand for a smaller machine.
        budget: spending limits over every model (a config's ``[budget]``); models carry
            their own. A call that would start once one is spent fails with
            ``budget_exceeded`` (spent, limit, reset time) before any process starts.
        watch_cancels: while calls run, read `store` every 0.2 s for requests from other
            processes to cancel them (`llminst cancel`) and cancel those; None: when `store`
            is one other processes can write (not a `MemoryStore`). With `replicas`, requests
            heard on their cancel bus end calls at once either way.
        replicas: this process among replicas sharing a Redis (`replicas.ReplicaLink`): calls
            are recorded under its writer id and heartbeat, dead replicas' calls are swept,
            cancels heard on its bus end calls at once, and models with ``concurrency_scope =
            "global"`` hold its leases while they run. None: the link a Redis `store`
            implies (`replicas.link_for_store`), else a process on its own.
        host: this machine's name among replicas sharing `store`: a session whose CLI keeps
            its resume state on disk (claude's ``~/.claude/projects``) resumes only on the
            host that made it and replays its transcript elsewhere. None: the host part of
            the writer identity (``socket.gethostname()``); tests pass their own to stand for
            two machines.

    Cancellation: leaving the block (normally, by exception, or by cancellation) cancels every
    running call: each process group gets SIGTERM, the grace period, SIGKILL, and is reaped
    before the block is left.
    """
    ensure_logging()
    if replicas is None and store is not None:
        replicas = link_for_store(store, settings, writer=writer_identity())
    recorder = Recorder(
        MemoryStore() if store is None else store,
        origin=origin,
        keep_prompts=keep_prompts,
        writer=None if replicas is None else replicas.writer,
        health=None if replicas is None else replicas.health,
    )
    cooldowns = CooldownKeeper(recorder.store, wall_clock)
    await cooldowns.load()
    reaping = subreaper and reaper.enable()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(recorder.run)
            supervisor = Supervisor(
                CONSTRUCTED_BY_OPEN_SUPERVISOR,
                nursery,
                models=models,
                settings=settings,
                base_env=os.environ if base_env is None else base_env,
                backoff=backoff,
                rng=random.Random(seed),
                recorder=recorder,
                allowed_roots=allowed_roots,
                cooldowns=cooldowns,
                available_memory_mb=available_memory_mb,
                budget=budget,
                host=host,
            )
            polls = _watches_cancels(watch_cancels, store)
            if polls or replicas is not None:
                watch = CancelWatch(recorder.store)
                supervisor._runner.watchers.append(watch)
                if polls:
                    nursery.start_soon(watch.run)
                if replicas is not None:
                    supervisor._replicas = replicas
                    supervisor._runner.leases = replicas.leases
                    await nursery.start(replicas.run, recorder.store, watch.requested)
                    start_routing(replicas, supervisor._handover, supervisor._request, nursery)
            try:
                yield supervisor
            finally:
                supervisor._closed = True
                nursery.cancel_scope.cancel()
                await supervisor._runner.end_all()
                with trio.CancelScope(shield=True):
                    await recorder.drain()
    finally:
        if reaping:
            reaper.disable()


def _watches_cancels(asked: bool | None, store: CallStore | None) -> bool:
    """Whether to read cancel requests: as asked, else for a store another process can write."""
    if asked is not None:
        return asked
    return store is not None and not isinstance(store, MemoryStore)
