"""The retry decision after a rate-limited attempt: the one backoff formula, the hint, the deadline.

`backoff_delay` is the backoff formula (stamina's); `plan_retry` combines it with what the CLI said
(a `RateLimitHit` from `ratelimit`), the attempt budget and the call's deadline into a
`RetryDecision` whose reason is ready for logs and error messages.

It must never import trio, sleep, read a clock, draw random numbers or log: the current time
(``now``) and the randomness (``rand``) are parameters, so every rule is tested by feeding values.
The caller sleeps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime

import attrs

from .ratelimit import RateLimitHit

__all__ = ["MIN_ATTEMPT_S", "BackoffPolicy", "RetryDecision", "backoff_delay", "plan_retry"]

MIN_ATTEMPT_S = 1.0
"""A retry is only worth starting if at least this many seconds remain before the deadline."""


def _finite_non_negative(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


def _at_least_one(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value >= 1.0):
        raise ValueError(f"{attribute.name} must be a finite number >= 1, got {value!r}")


@attrs.frozen(kw_only=True)
class BackoffPolicy:
    """Exponential backoff with jitter, as in stamina.

    Attributes:
        initial_s: the wait after the first failed attempt, before jitter.
        maximum_s: no backoff wait is longer than this (a server's retry hint may be).
        multiplier: each further failure multiplies the wait by this (>= 1, so waits never shrink).
        jitter_s: up to this many seconds are added at random.
    """

    initial_s: float = attrs.field(default=1.0, validator=_finite_non_negative)
    maximum_s: float = attrs.field(default=60.0, validator=_finite_non_negative)
    multiplier: float = attrs.field(default=2.0, validator=_at_least_one)
    jitter_s: float = attrs.field(default=1.0, validator=_finite_non_negative)


def backoff_delay(attempt: int, policy: BackoffPolicy, *, rand: float) -> float:
    """The wait after failed attempt number ``attempt`` (1-based)::

        min(maximum_s, initial_s * multiplier ** (attempt - 1) + jitter_s * rand)

    An exponent too large for a float gives ``maximum_s`` (no OverflowError).

    Args:
        attempt: the number of the attempt that just failed, >= 1.
        policy: the backoff parameters.
        rand: a random number in [0, 1), drawn by the caller.

    Returns:
        Seconds to wait, in ``[0, maximum_s]``.

    Raises:
        ValueError: ``attempt`` < 1 or ``rand`` outside [0, 1).
    """
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
    if not 0.0 <= rand < 1.0:
        raise ValueError(f"rand must be in [0, 1), got {rand!r}")
    if policy.initial_s == 0.0 or policy.multiplier == 1.0:
        growth = policy.initial_s
    else:
        try:
            growth = policy.initial_s * policy.multiplier ** (attempt - 1)
        except OverflowError:
            return policy.maximum_s
    return min(policy.maximum_s, growth + policy.jitter_s * rand)


@attrs.frozen
class RetryDecision:
    """What to do after a rate-limited attempt.

    Attributes:
        delay_s: seconds to wait before the next attempt; None means give up now. When not None,
            ``0 <= delay_s``, ``now + delay_s <= deadline``, and without a hint from the CLI
            ``delay_s <= policy.maximum_s``; for a fixed ``rand`` it never decreases as the
            attempt number grows.
        reason: why this wait, or why giving up, for logs and error messages (names the reset
            time in ISO UTC when known, and the deadline).
        reset_at: when the limit resets (epoch seconds), as far as the CLI said: the hit's
            ``reset_at`` if it is in the future, else ``now + retry_after_s``; None when unknown.
    """

    delay_s: float | None
    reason: str
    reset_at: float | None


def plan_retry(
    *,
    attempt: int,
    max_attempts: int,
    hit: RateLimitHit,
    policy: BackoffPolicy,
    now: float,
    deadline: float,
    rand: float,
) -> RetryDecision:
    """Decide whether and when to retry after attempt ``attempt`` hit a rate limit.

    Rules, in order:

    1. ``attempt >= max_attempts``: give up (no attempts left).
    2. The CLI's hint is ``hit.retry_after_s``, else ``hit.reset_at - now`` when that is in the
       future (a reset time in the past is ignored). The wanted wait is
       ``max(backoff_delay(attempt, policy, rand=rand), hint)``: a hint longer than
       ``policy.maximum_s`` is honoured, the server said so.
    3. The next attempt must start at least `MIN_ATTEMPT_S` before ``deadline``. If the hint
       alone goes past that, give up now, saying when the limit resets and that this is after
       (or too close to) the call's deadline: waiting would only burn the remaining time. If
       less than `MIN_ATTEMPT_S` remains even without waiting, give up. Otherwise wait
       ``min(wanted, deadline - now - MIN_ATTEMPT_S)``: only the backoff part is shortened.

    Args:
        attempt: the number of the attempt that was just rate limited, >= 1.
        max_attempts: attempts allowed in total, including the first.
        hit: what `detect_rate_limit` found.
        policy: the backoff parameters.
        now: the current time, epoch seconds.
        deadline: when the whole call must be over, epoch seconds (``math.inf`` for none).
        rand: a random number in [0, 1), drawn by the caller.

    Returns:
        The decision; ``delay_s`` None means give up and report the rate limit.

    Raises:
        ValueError: ``attempt`` < 1, ``rand`` outside [0, 1), ``now`` not finite or ``deadline``
            NaN.
    """
    if not math.isfinite(now) or math.isnan(deadline):
        raise ValueError(f"now must be finite and deadline a number, got {now!r} and {deadline!r}")
    backoff = backoff_delay(attempt, policy, rand=rand)
    hint = _hint_seconds(hit, now)
    report = _Report.of(attempt, max_attempts, hit, hint, now=now, deadline=deadline)
    latest = deadline - now - MIN_ATTEMPT_S
    if attempt >= max_attempts:
        return report.decide(None, "no attempts left, giving up", deadline_note=False)
    if hint is not None and hint > latest:
        where = "after" if hint >= deadline - now else f"less than {_secs(MIN_ATTEMPT_S)} before"
        return report.decide(None, "giving up now", f"that is {where} the call's deadline")
    if latest < 0.0:
        too_late = f"less than {_secs(MIN_ATTEMPT_S)} is left before the deadline"
        return report.decide(None, f"giving up: {too_late}")
    return _wait(report, backoff=backoff, hint=hint, latest=latest)


def _hint_seconds(hit: RateLimitHit, now: float) -> float | None:
    """The wait the CLI asked for: ``retry_after_s``, else the time until a future ``reset_at``."""
    if hit.retry_after_s is not None and math.isfinite(hit.retry_after_s):
        return max(0.0, hit.retry_after_s)
    if hit.reset_at is not None and math.isfinite(hit.reset_at) and hit.reset_at > now:
        return hit.reset_at - now
    return None


@attrs.frozen
class _Report:
    """What every decision's reason names: the hit, when the limit resets, when the call ends."""

    limited: str
    resets: str
    deadline_note: str
    reset_at: float | None

    @classmethod
    def of(
        cls,
        attempt: int,
        max_attempts: int,
        hit: RateLimitHit,
        hint: float | None,
        *,
        now: float,
        deadline: float,
    ) -> _Report:
        reset_at = now + hint if hint is not None else None
        resets = ""
        if reset_at is not None and hint is not None:
            resets = f"the limit resets at {_iso(reset_at)} (in {_secs(hint)})"
        deadline_note = ""
        if math.isfinite(deadline):
            left = _secs(max(0.0, deadline - now))
            deadline_note = f"the call's deadline is {_iso(deadline)} (in {left})"
        limited = f"rate limited on attempt {attempt} of {max_attempts} ({hit.pattern!r} matched)"
        return cls(limited, resets, deadline_note, reset_at)

    def decide(
        self, delay_s: float | None, verdict: str, *details: str, deadline_note: bool = True
    ) -> RetryDecision:
        """The decision, its reason naming the hit, verdict, reset, `details` and deadline."""
        notes = (*details, self.deadline_note) if deadline_note else details
        reason = _join((f"{self.limited}; {verdict}", self.resets, *notes))
        return RetryDecision(delay_s, reason, self.reset_at)


def _wait(report: _Report, *, backoff: float, hint: float | None, latest: float) -> RetryDecision:
    """Retry after the backoff or the hint, whichever is longer, cut to start before `latest`."""
    wanted = backoff if hint is None else max(backoff, hint)
    delay = min(wanted, latest)
    why = "as the CLI asked" if hint is not None and hint >= backoff else "backoff"
    if delay < wanted:
        why = f"shortened from {_secs(wanted)} to start before the deadline"
    return report.decide(delay, f"retrying in {_secs(delay)} ({why})")


def _iso(moment: float) -> str:
    try:
        return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return f"epoch {moment!r}"


def _secs(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def _join(parts: Iterable[str]) -> str:
    return "; ".join(part for part in parts if part)
