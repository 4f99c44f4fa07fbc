"""The usage ledger's arithmetic: each CLI's token counts in one shape, the cost of a call, and
the sums over calls that ``get_llm_usage`` and ``llminst usage`` show.

* `tokens_of`: a CLI's ``usage`` (claude's ``cache_read_input_tokens``, codex's
  ``reasoning_output_tokens``, gemini's ``stats``) as `Tokens` -- a count the CLI did not
  report stays None, never 0;
* `cost_of`: the CLI's own cost where it reports one (claude), else the model's prices per
  million tokens (``price_in_per_mtok`` on input tokens, ``price_out_per_mtok`` on output
  tokens, both needed), else None: unknown, never invented;
* `summarize`: call records -> one `UsageRow` per model, day (UTC) or session;
* `parse_since`: ``7d``, ``12h``, ``30m`` or an ISO date as epoch seconds.

Pure: no trio, no store, no clock (``now`` is passed in). What it must never do: make up a
count or a cost the CLI and the config did not give.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from attrs import asdict, frozen

from .errors import InvalidInputError
from .records import CallRecord, CallState
from .spec import ModelSpec

__all__ = [
    "GROUP_BYS",
    "Tokens",
    "UsageRow",
    "check_group_by",
    "cost_of",
    "parse_since",
    "record_group",
    "summarize",
    "tokens_of",
    "total_row",
]

GROUP_BYS = ("model", "day", "session")
"""How `summarize` may group calls."""

NO_SESSION = "(none)"
"""The group of calls outside any session, grouped by session."""

# Each normalized count and the keys CLIs report it under (first found wins).
_TOKEN_KEYS: Mapping[str, tuple[str, ...]] = {
    "input": ("input_tokens", "prompt_tokens", "input"),
    "output": ("output_tokens", "completion_tokens"),
    "cache_read": ("cache_read_input_tokens", "cached_input_tokens", "cached"),
    "cache_write": ("cache_creation_input_tokens", "cache_write_input_tokens"),
    "reasoning": ("reasoning_output_tokens", "reasoning_tokens", "thoughts"),
}


@frozen(kw_only=True)
class Tokens:
    """Token counts of one call (None: the CLI did not report that count)."""

    input: int | None = None
    output: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None
    reasoning: int | None = None


def tokens_of(usage: Mapping[str, Any] | None) -> Tokens:
    """`usage` as a CLI reported it, in one shape."""
    if not isinstance(usage, Mapping):
        return Tokens()
    counts = {name: _first_count(usage, keys) for name, keys in _TOKEN_KEYS.items()}
    if counts["reasoning"] is None:  # claude: output_tokens_details.thinking_tokens
        details = usage.get("output_tokens_details")
        if isinstance(details, Mapping):
            counts["reasoning"] = _count(details.get("thinking_tokens"))
    return Tokens(**counts)


def _first_count(usage: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = _count(usage.get(key))
        if value is not None:
            return value
    return None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if math.isfinite(value) and value >= 0 else None


def cost_of(
    reported_usd: float | None, usage: Mapping[str, Any] | None, spec: ModelSpec
) -> tuple[float | None, str | None]:
    """A call's cost in USD and where it comes from (``cli``, ``prices``, or None: unknown)."""
    if reported_usd is not None:
        return reported_usd, "cli"
    prices = (spec.price_in_per_mtok, spec.price_out_per_mtok)
    tokens = tokens_of(usage)
    if None in prices or tokens.input is None or tokens.output is None:
        return None, None
    price_in, price_out = prices
    assert price_in is not None and price_out is not None  # for mypy: checked just above
    cost = (tokens.input * price_in + tokens.output * price_out) / 1_000_000
    return round(cost, 9), "prices"


@frozen(kw_only=True)
class UsageRow:
    """The sums over one group of calls.

    Attributes:
        group: the model, the day (``YYYY-MM-DD``, UTC) or the session.
        calls: calls that ended (cache hits included).
        failures: calls that did not succeed (failed, cancelled, interrupted).
        cached: calls answered from the cache (no process, no cost).
        input_tokens ... reasoning_tokens: sums of what the CLIs reported (None: none did).
        cost_usd: the sum of the known costs (None: no call had one).
        cost_unknown: calls that ran a process but whose cost is unknown (so `cost_usd` is a
            lower bound when this is not 0).
        time_s: wall time of the calls, summed.
    """

    group: str
    calls: int = 0
    failures: int = 0
    cached: int = 0
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_usd: float | None = None
    cost_unknown: int = 0
    time_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def record_group(record: CallRecord, group_by: str) -> str:
    """The group `record` falls in (the model is the one that answered, after fallbacks)."""
    if group_by == "day":
        return datetime.fromtimestamp(record.created_at, UTC).strftime("%Y-%m-%d")
    if group_by == "session":
        return record.session or NO_SESSION
    answered = (record.result or {}).get("model")
    return answered if isinstance(answered, str) else record.model


def check_group_by(group_by: object) -> str:
    """`group_by` if it is one of `GROUP_BYS`, else an `InvalidInputError` naming them."""
    if group_by not in GROUP_BYS:
        raise InvalidInputError(f"group_by must be one of {', '.join(GROUP_BYS)}, got {group_by!r}")
    assert isinstance(group_by, str)
    return group_by


def summarize(
    records: Iterable[CallRecord], *, since: float | None = None, group_by: str = "model"
) -> list[UsageRow]:
    """One row per group of the ended calls created at or after `since`, sorted by group."""
    check_group_by(group_by)
    sums: dict[str, dict[str, Any]] = {}
    for record in records:
        if not record.state.done or (since is not None and record.created_at < since):
            continue
        row = sums.setdefault(record_group(record, group_by), {"calls": 0})
        _add(row, record)
    return [UsageRow(group=group, **row) for group, row in sorted(sums.items())]


def _add(row: dict[str, Any], record: CallRecord) -> None:
    result = record.result or {}
    row["calls"] += 1
    row["failures"] = row.get("failures", 0) + (record.state is not CallState.SUCCEEDED)
    cached = bool(result.get("cached"))
    row["cached"] = row.get("cached", 0) + cached
    tokens = tokens_of(record.usage)
    for name in ("input", "output", "cache_read", "cache_write", "reasoning"):
        value = getattr(tokens, name)
        if value is not None:
            row[f"{name}_tokens"] = (row.get(f"{name}_tokens") or 0) + value
    if record.cost_usd is not None:
        row["cost_usd"] = round((row.get("cost_usd") or 0.0) + record.cost_usd, 9)
    elif not cached and record.attempts > 0:
        row["cost_unknown"] = row.get("cost_unknown", 0) + 1
    duration = result.get("duration_s")
    if isinstance(duration, int | float) and math.isfinite(duration):
        row["time_s"] = round(row.get("time_s", 0.0) + duration, 6)


_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str | None, *, now: float) -> float | None:
    """``7d`` (s, m, h, d, w), or an ISO date/time (UTC unless it names a zone), as epoch
    seconds; None stays None.

    Raises:
        InvalidInputError: anything else, with the forms it takes.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidInputError(f"since must be a string such as '7d', got {type(text).__name__}")
    match = _SINCE.match(text)
    if match:
        return now - float(match.group(1)) * _UNIT_S[match.group(2).lower()]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"since {text!r} is neither a span (30m, 12h, 7d, 2w) nor an ISO date "
            "(2026-11-01 or 2026-11-01T08:00:00+00:00); give one of those"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def total_row(rows: list[UsageRow]) -> UsageRow:
    """The sums of `rows` as one row named ``total``."""
    sums: dict[str, float | int | None] = {}
    for row in rows:
        for name, value in row.to_dict().items():
            if name == "group" or value is None:
                continue
            sums[name] = (sums.get(name) or 0) + value
    if "cost_usd" in sums and sums["cost_usd"] is not None:
        sums["cost_usd"] = round(float(sums["cost_usd"]), 9)
    if "time_s" in sums and sums["time_s"] is not None:
        sums["time_s"] = round(float(sums["time_s"]), 6)
    return UsageRow(group="total", **sums)  # type: ignore[arg-type]
