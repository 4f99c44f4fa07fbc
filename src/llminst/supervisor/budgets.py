"""The budget keeper: refuses a call before any process starts when a spending limit is spent.

`BudgetKeeper.check` finds the limits a call is under (`_core.budget.limits_for`), waits until
the calls recorded so far are written, asks the store's ledger what the calls of each limit's
period cost (`CallStore.usage_summary`), and raises ``budget_exceeded`` for the first limit
reached. Calls still running are not counted: a budget stops new calls, it does not end
running ones.

What it must never do: start a process, or fail a call because the store cannot answer (that
is logged and the call goes on: a broken ledger must not stop work).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from .._core.budget import BudgetLimit, exceeded_error, limits_for, period
from .._core.request import CallRequest
from .._core.spec import BudgetSettings, split_model_name
from ..logs import get_logger
from ..store.base import CallStore

__all__ = ["BudgetKeeper"]

_log = get_logger()


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
    ) -> None:
        self._store = store
        self.budget = budget
        self._clock = clock
        self._flushed = flushed

    async def check(self, request: CallRequest) -> None:
        """Raise `BudgetExceededError` if a limit `request` is under is spent."""
        limits = limits_for(self.budget, request.spec)
        if not limits:
            return
        await self._flushed()
        now = self._clock()
        for limit in limits:
            start, end = period(limit.period, now)
            spent = await self._spent(limit, since=start)
            if spent is not None and spent >= limit.limit_usd:
                _log.info(
                    "llminst.budget.refused",
                    model=request.model,
                    scope=limit.scope,
                    spent_usd=round(spent, 6),
                    limit_usd=limit.limit_usd,
                )
                raise exceeded_error(request.model, limit, spent_usd=spent, resets_at=end)

    async def _spent(self, limit: BudgetLimit, *, since: float) -> float | None:
        try:
            rows = await self._store.usage_summary(since=since, group_by="model")
        except Exception as exc:
            _log.warning("llminst.budget.ledger_failed", error=repr(exc))
            return None
        return sum(
            row.cost_usd or 0.0
            for row in rows
            if limit.model is None or split_model_name(row.group)[0] == limit.model
        )
