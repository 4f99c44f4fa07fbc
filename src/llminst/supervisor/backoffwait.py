"""The wait between attempts after a rate limit: `wait_out` asks `_core.backoff.plan_retry` how
long (or whether to give up), records the throttle with the cooldowns (so other calls of the
account rest too), tells the caller (`RetryScheduled`), and sleeps within the call's deadline.

What it must never do: sleep past the call's deadline, or start a process.
"""

from __future__ import annotations

import random

import trio

from .._core.backoff import BackoffPolicy, plan_retry
from .._core.outcome import rate_limited_error
from .._core.ratelimit import RateLimitHit
from .callstate import Call
from .cooldowns import CooldownKeeper
from .stream import RetryScheduled

__all__ = ["wait_out"]


async def wait_out(
    call: Call,
    hit: RateLimitHit,
    now: float,
    *,
    backoff: BackoffPolicy,
    rng: random.Random,
    cooldowns: CooldownKeeper,
) -> None:
    """Sleep before the next attempt as `plan_retry` says, or raise if it says give up."""
    attempt = call.attempts
    remaining = call.scope.deadline - trio.current_time()
    decision = plan_retry(
        attempt=attempt,
        max_attempts=call.request.spec.max_attempts,
        hit=hit,
        policy=backoff,
        now=now,
        deadline=now + remaining,
        rand=rng.random(),
    )
    await cooldowns.throttled(
        call.request.spec,
        model=call.request.model,
        reason=hit.excerpt,
        reset_at=decision.reset_at,
        gave_up=decision.delay_s is None,
        now=now,
    )
    if decision.delay_s is None:
        raise rate_limited_error(call.request, hit, decision, attempt)
    call.log.info(
        "llminst.retry.scheduled",
        attempt=attempt,
        wait_s=round(decision.delay_s, 3),
        reason=decision.reason,
    )
    await call.emit(RetryScheduled(attempt, decision.delay_s, decision.reason, decision.reset_at))
    await trio.sleep(decision.delay_s)
