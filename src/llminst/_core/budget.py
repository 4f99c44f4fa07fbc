"""Budgets: which spending limits apply to a call, the periods they count over, and the refusal.

A limit is ``[budget] daily_usd`` / ``monthly_usd`` (every model's calls) or a model's own
``budget_daily_usd`` / ``budget_monthly_usd`` (its calls, sub-models included). Periods are UTC
days and UTC calendar months. A call is refused when what the calls in a period cost so far (the
ledger's known costs) has reached the limit: `exceeded_error` says what was spent, the limit, and
when the period resets.

Pure: times are passed in. What it must never do: read a clock or a store, or count a cost the
ledger does not know.

`ModelSpend` is what a budget check reads of a period (`CallStore.period_spend`): per model that
answered, the known cost and the priced calls (ended, not answered from the cache, and with a
known cost or no process run: the calls the mean expected cost is taken over).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from attrs import frozen

from .errors import BudgetExceededError
from .ledger import UsageRow
from .spec import BudgetSettings, ModelSpec

__all__ = [
    "PERIODS",
    "BudgetLimit",
    "ModelSpend",
    "exceeded_error",
    "limits_for",
    "period",
    "spend_of",
]

PERIODS = ("daily", "monthly")
"""The periods a limit counts over (UTC days and calendar months)."""


@frozen(kw_only=True)
class BudgetLimit:
    """One spending limit: over `period` (``daily`` or ``monthly``), for `model` (None: all)."""

    period: str
    limit_usd: float
    model: str | None = None

    @property
    def scope(self) -> str:
        return self.period if self.model is None else f"{self.model} {self.period}"


def limits_for(budget: BudgetSettings, spec: ModelSpec) -> list[BudgetLimit]:
    """The limits a call of `spec` must be within."""
    candidates = [
        ("daily", budget.daily_usd, None),
        ("monthly", budget.monthly_usd, None),
        ("daily", spec.budget_daily_usd, spec.name),
        ("monthly", spec.budget_monthly_usd, spec.name),
    ]
    return [
        BudgetLimit(period=name, limit_usd=limit, model=model)
        for name, limit, model in candidates
        if limit is not None
    ]


def period(name: str, now: float) -> tuple[float, float]:
    """The start and end (epoch seconds) of the UTC day or month `now` is in."""
    moment = datetime.fromtimestamp(now, UTC)
    if name == "daily":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.timestamp(), start.timestamp() + 86400
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return start.timestamp(), start.replace(year=year, month=month).timestamp()


@frozen(kw_only=True)
class ModelSpend:
    """What the ended calls of one period answered by `model` cost.

    Attributes:
        model: the model that answered (after fallbacks), as the ledger groups it.
        cost_usd: the sum of the known costs.
        priced: the calls the mean cost of one is taken over (see the module docstring).
    """

    model: str
    cost_usd: float
    priced: int


def spend_of(rows: Iterable[UsageRow]) -> list[ModelSpend]:
    """`ModelSpend` of ledger rows grouped by model, sorted by model (rows that add nothing,
    no cost and no priced call, left out)."""
    spends = [
        ModelSpend(
            model=row.group,
            cost_usd=row.cost_usd or 0.0,
            priced=row.calls - row.cached - row.cost_unknown,
        )
        for row in sorted(rows, key=lambda row: row.group)
    ]
    return [spend for spend in spends if spend.cost_usd or spend.priced]


def exceeded_error(
    model: str, limit: BudgetLimit, *, spent_usd: float, resets_at: float
) -> BudgetExceededError:
    """The error of a call of `model` refused by `limit`."""
    reset = datetime.fromtimestamp(resets_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    where = (
        f"[models.{limit.model}] budget_{limit.period}_usd"
        if limit.model
        else f"[budget] {limit.period}_usd"
    )
    return BudgetExceededError(
        f"the {limit.scope} budget is spent: ${spent_usd:.4f} of ${limit.limit_usd:.4f}; "
        f"no process was started for {model!r}. It resets at {reset}; raise {where} in the "
        "config to go on now, or use another model",
        spent_usd=spent_usd,
        limit_usd=limit.limit_usd,
        resets_at=resets_at,
        scope=limit.scope,
    )
