"""Cooldowns: which account a model bills, and until when a rate-limited account rests.

A *cooldown* takes an account out of rotation: until it ends, calls to any model of that account
fail at once (or go to a fallback) without starting the CLI. This module owns the decisions:

* `account_of`: the account a model's calls count against -- its spec's ``account``, else the
  program it runs (the executable's name; for an interpreter such as ``python -m mod`` or
  ``node cli.js``, the module or script it runs, so two different scripts are two accounts);
* `cooldown_after`: the cooldown a rate-limit hit leaves. A hit whose reset time is known rests
  the account until then. A throttle without one rests it `BASE_COOLDOWN_S` (30 s), doubling
  with each repeat (a throttle within `REPEAT_WINDOW_S` of the previous cooldown's end), capped
  at `MAX_COOLDOWN_S` (5 min);
* `cleared_after_success`: a success forgets the repeats of an expired cooldown;
* `cooling_down_error`: the ``rate_limited`` error of a call refused during a cooldown.

Pure: times are passed in (wall-clock epoch seconds, since cooldowns outlive the process). It
must never read a clock, sleep, touch a store or a process.
"""

from __future__ import annotations

import math
import os
import re
from datetime import UTC, datetime

import attrs
from attrs import frozen

from .errors import RateLimitedError
from .spec import ModelSpec

__all__ = [
    "BASE_COOLDOWN_S",
    "MAX_COOLDOWN_S",
    "REPEAT_WINDOW_S",
    "CooldownRecord",
    "account_of",
    "cleared_after_success",
    "cooldown_after",
    "cooling_down_error",
    "iso_utc",
]

BASE_COOLDOWN_S = 30.0
"""A throttle that names no reset time rests its account this long the first time."""
MAX_COOLDOWN_S = 300.0
"""Repeated throttles double the rest up to this cap (30, 60, 120, 240, 300, 300 ... s)."""
REPEAT_WINDOW_S = 600.0
"""A throttle this soon after the previous cooldown ended counts as a repeat."""

# Programs that run the real CLI as their first non-option argument (a script or `-m module`).
_INTERPRETERS = re.compile(
    r"(?:python|pypy)[\d.]*|node|nodejs|bun|deno|ruby|perl|php|sh|bash|zsh|dash|env|uv|uvx|npx",
    re.IGNORECASE,
)


@frozen(kw_only=True)
class CooldownRecord:
    """One account's rest, as the call store keeps it.

    Attributes:
        account: the account (see `account_of`).
        until: when calls may start again (epoch seconds); in the past once it has ended (the
            record is kept for `strikes`).
        reason: what the CLI said (the rate-limit excerpt), for errors and status.
        model: the model whose call was limited.
        strikes: consecutive throttles without a reset time (they grow the rest); 0 when the
            rest came from a reset time the CLI gave, or after a success.
        set_at: when it was recorded (epoch seconds).
    """

    account: str
    until: float
    reason: str
    model: str
    strikes: int = 0
    set_at: float

    def active(self, now: float) -> bool:
        return self.until > now

    def evolve(self, **changes: object) -> CooldownRecord:
        return attrs.evolve(self, **changes)  # type: ignore[arg-type]


def account_of(spec: ModelSpec) -> str:
    """The account `spec`'s calls count against: its ``account``, else the program it runs."""
    if spec.account:
        return spec.account
    command = spec.command
    program = os.path.basename(command[0])
    if not _INTERPRETERS.fullmatch(program):
        return program
    args = iter(command[1:])
    for arg in args:
        if arg == "-m":
            return next(args, program)
        if not arg.startswith("-") and "=" not in arg and arg != "{prompt}":
            return os.path.basename(arg)
    return program


def cooldown_after(
    previous: CooldownRecord | None,
    *,
    account: str,
    model: str,
    reason: str,
    reset_at: float | None,
    gave_up: bool,
    now: float,
) -> CooldownRecord | None:
    """The cooldown a rate-limit hit leaves on `account`, or None when it leaves none.

    Args:
        previous: the account's record so far (active or ended), if any.
        account / model: whose call was limited.
        reason: what the CLI said (kept for errors and status).
        reset_at: when the limit resets, as the CLI said (epoch seconds), else None.
        gave_up: the call stops retrying (a throttle without a reset time rests the account
            only then: while the call retries on its own backoff, others may try too).
        now: the current time, epoch seconds.

    Returns:
        The new record. A known reset in the future rests the account until then (a longer
        active rest is kept). Without one, a call that gave up rests it
        ``min(MAX_COOLDOWN_S, BASE_COOLDOWN_S * 2 ** (strikes - 1))``.
    """
    resting = previous is not None and previous.active(now)
    if reset_at is not None and math.isfinite(reset_at) and reset_at > now:
        if resting and previous is not None and previous.until >= reset_at:
            return None  # an earlier, longer rest already covers it
        return CooldownRecord(
            account=account, until=reset_at, reason=reason, model=model, set_at=now
        )
    if not gave_up:
        return None
    repeated = previous is not None and previous.strikes > 0
    repeated = repeated and previous is not None and now - previous.until <= REPEAT_WINDOW_S
    strikes = previous.strikes + 1 if repeated and previous is not None else 1
    until = now + min(MAX_COOLDOWN_S, BASE_COOLDOWN_S * 2.0 ** min(strikes - 1, 30))
    if resting and previous is not None and previous.until >= until:
        return None
    return CooldownRecord(
        account=account, until=until, reason=reason, model=model, strikes=strikes, set_at=now
    )


def cleared_after_success(record: CooldownRecord | None, *, now: float) -> CooldownRecord | None:
    """The record after a call of its account succeeded: an ended cooldown loses its repeats
    (the next throttle starts at `BASE_COOLDOWN_S` again); None when nothing changes."""
    if record is None or record.active(now) or record.strikes == 0:
        return None
    return record.evolve(strikes=0)


def cooling_down_error(model: str, record: CooldownRecord, *, now: float) -> RateLimitedError:
    """The error of a call to `model` refused because its account rests until `record.until`."""
    left = max(0.0, record.until - now)
    by = "" if record.model == model else f" (by a call to {record.model!r})"
    return RateLimitedError(
        f"model {model!r} is cooling down: its account {record.account!r} was rate limited"
        f"{by} ({record.reason!r}); calls resume at {iso_utc(record.until)} (in "
        f"{_duration(left)}). No process was started. Wait until then, or pass fallbacks "
        "(e.g. fallbacks=['gemini']) or set them in the model's config.",
        reset_at=record.until,
    )


def iso_utc(moment: float) -> str:
    """`moment` (epoch seconds) as ``2026-11-25T03:00:00Z``."""
    try:
        return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return f"epoch {moment!r}"


def _duration(seconds: float) -> str:
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"
