"""The budget keeper: refuses a call before any process starts when a spending limit is spent.

`BudgetKeeper.check` finds the limits a call is under (`_core.budget.limits_for`), waits until
the calls recorded so far are written, asks the store's ledger what the calls of each limit's
period cost (`CallStore.period_spend`: running totals on Redis), and raises
``budget_exceeded`` for the first limit reached. A budget stops new calls, it does not end
running ones.

Calls still running have no cost in the ledger yet, so each admitted call also *reserves* its
expected cost (the mean known cost of the period's calls under that limit) in the store
(`CallStore.reserve_spend`, atomic across replicas sharing a Redis store): a call starts only
while what the ledger shows plus what running calls hold is below the limit, so two replicas
cannot both start on the last dollar. The hold is given back once the call's own cost is
written (`call_finished` queues the release behind the recorder's final write); a replica that
dies leaves its holds to expire (`HOLD_TTL_S`). Before any cost of the period is known, a call
holds nothing.

What it must never do: start a process, or fail a call because the store cannot answer (that
is logged and the call goes on: a broken ledger must not stop work).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .._core.budget import BudgetLimit, exceeded_error, limits_for, period
from .._core.request import CallRequest
from .._core.spec import BudgetSettings, split_model_name
from ..logs import get_logger
from ..store.base import CallStore

if TYPE_CHECKING:
    from .call import Call
    from .stream import StreamEvent

__all__ = ["HOLD_TTL_S", "BudgetKeeper"]

HOLD_TTL_S = 3600.0
"""A budget's holds are forgotten this long after its last reservation (a dead holder's)."""

_log = get_logger()

Hold = tuple[str, float]  # (reservation key, amount)


class BudgetKeeper:
    """The spending limits of one supervisor.

    Args:
        store: the ledger's calls.
        budget: the ``[budget]`` limits (models carry their own).
        clock: the wall clock (epoch seconds).
        flushed: waits until the recorder has written every call so far.
    """

    def __init__(
        self,
        store: CallStore,
        budget: BudgetSettings,
        clock: Callable[[], float],
        flushed: Callable[[], Awaitable[None]],
        queue_write: Callable[[Callable[[], Awaitable[None]]], None] | None = None,
    ) -> None:
        self._store = store
        self.budget = budget
        self._clock = clock
        self._flushed = flushed
        self._queue_write = queue_write
        self._holds: dict[str, list[Hold]] = {}  # call id -> what it reserved

    async def check(self, request: CallRequest, *, call_id: str | None = None) -> None:
        """Raise `BudgetExceededError` if a limit `request` is under is spent (or held by
        running calls); else reserve the call's expected cost under each (given back when
        the call `call_id` finishes)."""
        limits = limits_for(self.budget, request.spec)
        if not limits:
            return
        await self._flushed()
        now = self._clock()
        holds: list[Hold] = []
        try:
            for limit in limits:
                start, end = period(limit.period, now)
                spent, expected = await self._spent(limit, since=start)
                if spent is None:
                    continue
                key = f"{limit.scope}:{start:.0f}"
                if spent >= limit.limit_usd or not await self._reserve(
                    key, expected, limit.limit_usd - spent, now
                ):
                    _log.info(
                        "llminst.budget.refused",
                        model=request.model,
                        scope=limit.scope,
                        spent_usd=round(spent, 6),
                        limit_usd=limit.limit_usd,
                    )
                    raise exceeded_error(request.model, limit, spent_usd=spent, resets_at=end)
                holds.append((key, expected))
        except BaseException:
            await self._release(holds)
            raise
        if holds and call_id is not None and self._queue_write is not None:
            self._holds[call_id] = holds
        else:
            await self._release(holds)

    async def _reserve(self, key: str, amount: float, cap: float, now: float) -> bool:
        try:
            return await self._store.reserve_spend(
                key, amount=amount, cap=cap, now=now, ttl_s=HOLD_TTL_S
            )
        except Exception as exc:
            _log.warning("llminst.budget.reserve_failed", error=repr(exc))
            return True

    async def _release(self, holds: list[Hold]) -> None:
        for key, amount in holds:
            try:
                await self._store.release_spend(key, amount=amount)
            except Exception as exc:
                _log.warning("llminst.budget.release_failed", error=repr(exc))

    # -- CallWatcher: a call's holds go once its cost is written ---------------------------

    def call_started(self, call: Call) -> None:
        return None

    def call_event(self, call: Call, event: StreamEvent) -> None:
        return None

    def call_finished(self, call: Call) -> None:
        holds = self._holds.pop(call.id, None)
        if holds and self._queue_write is not None:
            self._queue_write(lambda: self._release(holds))

    async def _spent(self, limit: BudgetLimit, *, since: float) -> tuple[float | None, float]:
        """What the period's calls under `limit` cost, and the mean known cost of one."""
        try:
            spends = await self._store.period_spend(limit.period, start=since)
        except Exception as exc:
            _log.warning("llminst.budget.ledger_failed", error=repr(exc))
            return None, 0.0
        mine = [
            spend
            for spend in spends
            if limit.model is None or split_model_name(spend.model)[0] == limit.model
        ]
        spent = sum(spend.cost_usd for spend in mine)
        priced = sum(spend.priced for spend in mine)
        return spent, (spent / priced if priced > 0 else 0.0)
