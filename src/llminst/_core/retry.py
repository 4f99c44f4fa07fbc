"""Compatibility shim: removed when issue 11 lands (see `ratelimit` and `backoff`)."""

from .backoff import MIN_ATTEMPT_S, BackoffPolicy, RetryDecision, backoff_delay, plan_retry
from .ratelimit import TAIL_CHARS, RateLimitHit, detect_rate_limit, parse_retry_hint

__all__ = [
    "MIN_ATTEMPT_S",
    "TAIL_CHARS",
    "BackoffPolicy",
    "RateLimitHit",
    "RetryDecision",
    "backoff_delay",
    "detect_rate_limit",
    "parse_retry_hint",
    "plan_retry",
]
