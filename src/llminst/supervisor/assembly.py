"""The parts every call of one supervisor shares, put together once: `build_runner`.

The runner (`call.CallRunner`) gets the capabilities, warm pool, cooldowns, memory admission,
cache and budgets it consults, and its watchers in the order they must be told (the store's
recorder first, so news is readable when live waiters hear of it). Nothing here runs: it only
wires parts that `open_supervisor`'s nursery will run.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping

import trio

from .._core.backoff import BackoffPolicy
from .._core.spec import BudgetSettings, Settings
from .budgets import BudgetKeeper
from .cache import ResponseCache
from .call import CallRunner
from .capabilities import Capabilities
from .cooldowns import CooldownKeeper
from .live import LiveCalls
from .memory import MemoryAdmission, TreeSampler
from .recorder import Recorder
from .warm import WarmPool

__all__ = ["build_runner"]


def build_runner(
    nursery: trio.Nursery,
    *,
    settings: Settings,
    base_env: Mapping[str, str],
    backoff: BackoffPolicy,
    rng: random.Random,
    recorder: Recorder,
    live: LiveCalls,
    cooldowns: CooldownKeeper | None,
    available_memory_mb: Callable[[], float | None],
    budget: BudgetSettings | None,
) -> CallRunner:
    """The runner of a supervisor whose calls are recorded by `recorder` (`cooldowns` None:
    none kept before, wall-clock time; `budget` None: no limits but the models' own)."""
    if cooldowns is None:
        cooldowns = CooldownKeeper(recorder.store, time.time)
    clock = cooldowns.clock
    budgets = BudgetKeeper(
        recorder.store,
        budget or BudgetSettings(),
        clock,
        recorder.flushed,
        queue_write=recorder.queue_write,
    )
    sampler = TreeSampler()
    nursery.start_soon(sampler.run, name="llminst.memory.sampler")  # parked while no call runs
    return CallRunner(
        settings=settings,
        backoff=backoff,
        rng=rng,
        capabilities=Capabilities(nursery, base_env),
        cooldowns=cooldowns,
        # The store first: news is readable when told; budgets after it: a call's hold is
        # released behind its final record.
        watchers=[recorder, budgets, live],
        clock=clock,
        memory=MemoryAdmission(settings, available_mb=available_memory_mb, sampler=sampler),
        cache=ResponseCache(recorder.store, clock),
        budgets=budgets,
        warm=WarmPool(nursery, settings),
    )
