"""Tests for llminst._core.retry: rate-limit detection, retry hints, backoff and the retry decision."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llminst._core.backoff import (
    MIN_ATTEMPT_S,
    BackoffPolicy,
    RetryDecision,
    backoff_delay,
    plan_retry,
)
from llminst._core.ratelimit import TAIL_CHARS, RateLimitHit, detect_rate_limit, parse_retry_hint


def _ts(*args: int, tz: timezone | ZoneInfo = UTC) -> float:
    return datetime(*args, tzinfo=tz).timestamp()  # type: ignore[misc]


NOW = _ts(2026, 11, 25, 0, 30)  # 00:30 UTC
GENERIC = (r"rate[ _-]?limit", r"too many requests", r"\b429\b", r"usage limit")
FAR = NOW + 10 * 86400  # a deadline that never matters


def _hit(retry_after_s: float | None = None, reset_at: float | None = None) -> RateLimitHit:
    return RateLimitHit("rate limit", "rate limit exceeded", retry_after_s, reset_at)


# ---------------------------------------------------------------------------------------------
# parse_retry_hint


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Retry-After: 30", 30.0),
        ("retry-after:30\r\n", 30.0),
        ("Error 429. retry after 30 seconds", 30.0),
        ("Retry after 45 s.", 45.0),
        ("please retry in 12.5s", 12.5),
        ("Quota exceeded for metric. Please retry in 37.0546s.", 37.0546),
        ("try again in 2m30s", 150.0),
        ("try again in 1h 30m", 5400.0),
        ("try again in 2 minutes and 30 seconds", 150.0),
        ("try again in 20 minutes", 1200.0),
        ("Please try again in 1h", 3600.0),
        ("Please try again in 6ms.", 0.006),
        ("try again after 2 hours", 7200.0),
        ('"retry_delay_ms":2000', 2.0),
        ('{"type":"system","subtype":"api_retry","attempt":2,"retry_delay_ms": 2000}', 2.0),
        ('"retryDelayMs": 1500', 1.5),
        ('"retry_after": 30', 30.0),
        ('"retry_after_seconds": 7', 7.0),
        ('"retryDelay": "37s"', 37.0),
        ('{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay":"1.5s"}', 1.5),
        ("retry after 0 seconds", 0.0),
    ],
)
def test_duration_hints(text: str, expected: float) -> None:
    """Every duration form gives retry_after_s in seconds and no reset time."""
    retry_after, reset_at = parse_retry_hint(text, now=NOW)
    assert retry_after == pytest.approx(expected)
    assert reset_at is None


def test_gemini_api_error_multiline() -> None:
    """The retryDelay of Gemini's multi-line JSON error is found."""
    text = """{
  "error": {
    "code": 429,
    "message": "You exceeded your current quota.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {"@type": "type.googleapis.com/google.rpc.RetryInfo",
       "retryDelay": "37s"}
    ]
  }
}"""
    assert parse_retry_hint(text, now=NOW) == (37.0, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("resets at 2026-11-25T03:00:00Z", _ts(2026, 11, 25, 3)),
        ("resets at 2026-11-25T03:00:00.250Z", _ts(2026, 11, 25, 3) + 0.25),
        ("Resets at 2026-11-25T03:00:00+01:00", _ts(2026, 11, 25, 2)),
        ("resets at 2026-11-25T03:00:00-0500", _ts(2026, 11, 25, 8)),
        ("limit resets at 2026-11-25 03:00 UTC", _ts(2026, 11, 25, 3)),
        ('"resetsAt": "2026-11-25T03:00:00Z"', _ts(2026, 11, 25, 3)),
        ("quota available until 2026-11-26", _ts(2026, 11, 26)),
        ("Claude AI usage limit reached|1764039600", 1764039600.0),
        ("Claude AI usage limit reached|1764039600000", 1764039600.0),
        ("Claude AI usage limit reached|1764039600123", 1764039600.123),
        ('{"type":"rate_limit_event","rate_limit_info":{"resetsAt":1764039600}}', 1764039600.0),
        ("x-ratelimit-reset: 1764039600", 1764039600.0),
        ("Retry-After: Wed, 25 Nov 2026 07:28:00 GMT", _ts(2026, 11, 25, 7, 28)),
    ],
)
def test_absolute_hints(text: str, expected: float) -> None:
    """ISO 8601, epoch (seconds or milliseconds) and HTTP-date forms give reset_at."""
    retry_after, reset_at = parse_retry_hint(text, now=NOW)
    assert retry_after is None
    assert reset_at == pytest.approx(expected)


def test_iso_without_offset_is_read_in_tz() -> None:
    """An ISO time without an offset is local time in `tz`."""
    tz = timezone(timedelta(hours=2))
    _, reset_at = parse_retry_hint("resets at 2026-11-25T03:00:00", now=NOW, tz=tz)
    assert reset_at == _ts(2026, 11, 25, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("You've hit your limit · resets 1am", _ts(2026, 11, 25, 1)),
        ("5-hour limit reached ∙ resets 3:30pm", _ts(2026, 11, 25, 15, 30)),
        ("resets 3:30 p.m.", _ts(2026, 11, 25, 15, 30)),
        ("resets at 17:00", _ts(2026, 11, 25, 17)),
        ("resets 12pm", _ts(2026, 11, 25, 12)),
        # already past today (00:30) -> tomorrow
        ("resets 12am", _ts(2026, 11, 26, 0)),
        ("resets 12:15am", _ts(2026, 11, 26, 0, 15)),
        ("resets 12:30am", _ts(2026, 11, 26, 0, 30)),  # exactly now is not "after now"
        # a named zone: 5pm in London is 17:00 UTC in November
        ("You've hit your limit · resets 5pm (Europe/London)", _ts(2026, 11, 25, 17)),
        ("resets 1am (Europe/Berlin)", _ts(2026, 11, 26, 0)),  # 01:30 Berlin now -> tomorrow
        ("resets 9am (America/New_York)", _ts(2026, 11, 25, 14)),
        # an unknown zone falls back to tz
        ("resets 5pm (Not/AZone)", _ts(2026, 11, 25, 17)),
        # a date and a time: this year if still ahead, else next year
        ("Weekly limit reached · resets Nov 26, 10am", _ts(2026, 11, 26, 10)),
        ("resets on Nov 26 at 10am (America/New_York)", _ts(2026, 11, 26, 15)),
        ("resets Jan 3, 9:15am", _ts(2027, 1, 3, 9, 15)),
    ],
)
def test_clock_time_hints(text: str, expected: float) -> None:
    """A clock time after "resets" is its next occurrence after now."""
    retry_after, reset_at = parse_retry_hint(text, now=NOW)
    assert retry_after is None
    assert reset_at == expected


def test_clock_time_uses_tz() -> None:
    """Without a named zone the clock time is read in `tz`."""
    tz = ZoneInfo("Asia/Tokyo")  # NOW is 09:30 in Tokyo
    assert parse_retry_hint("resets 10am", now=NOW, tz=tz) == (None, _ts(2026, 11, 25, 10, tz=tz))
    assert parse_retry_hint("resets 9am", now=NOW, tz=tz) == (None, _ts(2026, 11, 26, 9, tz=tz))


def test_clock_time_across_dst_change() -> None:
    """Tomorrow's clock time is wall-clock time, across a daylight-saving change."""
    london = ZoneInfo("Europe/London")
    now = _ts(2026, 10, 24, 12, tz=london)  # BST; clocks go back on 25 Oct
    _, reset_at = parse_retry_hint("resets 1am (Europe/London)", now=now)
    assert reset_at == _ts(2026, 10, 25, 1, tz=london)


def test_both_kinds_and_last_occurrence_wins() -> None:
    """A duration and a reset time are both returned; the newest of each kind wins."""
    text = (
        "retry after 10 seconds\n"
        "resets at 2026-11-25T02:00:00Z\n"
        "retry after 20 seconds\n"
        "Claude AI usage limit reached|1764039600\n"
    )
    assert parse_retry_hint(text, now=NOW) == (20.0, 1764039600.0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello world",
        "rate limit exceeded",
        "retry after a while",
        "retry after 30 bananas",
        "try again later",
        "resets 13pm",
        "resets 25:00",
        "resets 0am",
        "resets soon",
        "resets Feb 30, 10am",
        "resets at 1900-01-01T00:00:00Z",  # outside 2000..2100: a misread
        "resets at 2026-13-45T99:00:00Z",
        "2026-11-25T03:00:00Z ERROR rate limit",  # a log timestamp is not a reset time
        "x-ratelimit-reset-requests: 1s",
        "total|12345",
        "retry after " + "9" * 400 + " seconds",
    ],
)
def test_unparseable(text: str) -> None:
    """Text without a usable hint gives (None, None)."""
    assert parse_retry_hint(text, now=NOW) == (None, None)


def test_only_the_tail_is_read() -> None:
    """A hint before the last TAIL_CHARS characters is not seen."""
    text = "retry after 30 seconds\n" + "x" * TAIL_CHARS
    assert parse_retry_hint(text, now=NOW) == (None, None)
    assert parse_retry_hint(text[-TAIL_CHARS + 10 :] + "\nretry after 5s", now=NOW) == (5.0, None)


@pytest.mark.parametrize(
    "text",
    [
        "retry after" + " " * 70000,
        "resets " + "1" * 70000,
        "|" + "1" * 70000,
        "retry_delay_ms" + '"' * 70000,
        "resets at " + "2026-11-25T" * 7000,
        "resets Nov 1 at " * 5000,
        "1:" * 40000,
        "try again in " + "1m" * 40000,
    ],
)
def test_adversarial_input_is_cheap(text: str) -> None:
    """Long pathological input finishes (bounded regexes, no catastrophic backtracking)."""
    parse_retry_hint(text, now=NOW)
    detect_rate_limit(text, GENERIC, now=NOW)


@given(text=st.text(max_size=400), now=st.floats(min_value=0, max_value=4e9))
def test_parse_never_raises_on_arbitrary_text(text: str, now: float) -> None:
    """Arbitrary text never raises; results are finite and non-negative."""
    retry_after, reset_at = parse_retry_hint(text, now=now)
    for value in (retry_after, reset_at):
        assert value is None or (math.isfinite(value) and value >= 0)


_HINTISH = st.lists(
    st.sampled_from(
        [
            "retry after ",
            "Retry-After:",
            "try again in ",
            "resets ",
            "resets at ",
            "retryDelay",
            '"',
            ":",
            " ",
            "|",
            "1",
            "12",
            "1764039600",
            "2026-11-25T03:00:00",
            "Z",
            "+01:00",
            "am",
            "pm",
            ":30",
            "s",
            "ms",
            "m",
            "h",
            " and ",
            "(Europe/London)",
            "(Nope/Nope)",
            "(Europe)",
            "Nov ",
            "Feb 29, ",
            "\n",
            ".",
        ]
    ),
    max_size=25,
).map("".join)


@given(
    text=_HINTISH,
    now=st.floats(min_value=-1e12, max_value=1e12),
    offset_h=st.integers(min_value=-23, max_value=23),
)
def test_parse_never_raises_on_hint_like_text(text: str, now: float, offset_h: int) -> None:
    """Text built from hint fragments never raises, for any clock and offset."""
    tz = timezone(timedelta(hours=offset_h))
    retry_after, reset_at = parse_retry_hint(text, now=now, tz=tz)
    for value in (retry_after, reset_at):
        assert value is None or (math.isfinite(value) and value >= 0)


# ---------------------------------------------------------------------------------------------
# detect_rate_limit


def test_detect_claude_usage_limit() -> None:
    """Claude's usage-limit line is detected with its epoch reset time."""
    hit = detect_rate_limit(
        "Claude AI usage limit reached|1764039600\n",
        (*GENERIC, r"claude ai usage limit reached"),
        now=NOW,
    )
    assert hit == RateLimitHit(
        pattern="usage limit",
        excerpt="Claude AI usage limit reached|1764039600",
        retry_after_s=None,
        reset_at=1764039600.0,
    )


def test_detect_hit_your_limit_with_zone() -> None:
    """ "You've hit your limit · resets 5pm (Europe/London)" resolves in London time."""
    text = "working...\nYou've hit your limit · resets 5pm (Europe/London)\n"
    hit = detect_rate_limit(text, (r"you've hit your limit",), now=NOW, tz=ZoneInfo("Asia/Tokyo"))
    assert hit is not None
    assert hit.excerpt == "You've hit your limit · resets 5pm (Europe/London)"
    assert hit.reset_at == _ts(2026, 11, 25, 17)


def test_detect_is_case_insensitive() -> None:
    """Patterns match regardless of case."""
    hit = detect_rate_limit("ERROR: TOO MANY REQUESTS", GENERIC, now=NOW)
    assert hit is not None
    assert hit.pattern == "too many requests"


def test_detect_nothing() -> None:
    """No matching pattern gives None."""
    assert detect_rate_limit("all good\n", GENERIC, now=NOW) is None
    assert detect_rate_limit("rate limit", (), now=NOW) is None


def test_detect_prefers_the_newest_match() -> None:
    """When several patterns match, the one matching last in the text names the hit."""
    text = "429 Too Many Requests\nretrying...\nusage limit reached, try again in 5 minutes\n"
    hit = detect_rate_limit(text, GENERIC, now=NOW)
    assert hit is not None
    assert hit.pattern == "usage limit"
    assert hit.excerpt == "usage limit reached, try again in 5 minutes"
    assert hit.retry_after_s == 300.0


def test_detect_prefers_the_hint_on_the_matched_line() -> None:
    """A hint on the matched line beats an older one elsewhere in the output."""
    text = "earlier: retry after 99 seconds\n" + "noise\n" * 2000 + "rate limited; retry in 3s\n"
    hit = detect_rate_limit(text, GENERIC, now=NOW)
    assert hit is not None
    assert hit.retry_after_s == 3.0


def test_detect_reads_hint_near_the_match() -> None:
    """A hint a few lines after the matched line (Gemini's JSON error) is found."""
    text = (
        '{"error": {"code": 429,\n "status": "RESOURCE_EXHAUSTED",\n'
        ' "details": [{"retryDelay": "37s"}]}}\n'
    )
    hit = detect_rate_limit(text, (r"resource[ _]exhausted",), now=NOW)
    assert hit is not None
    assert hit.excerpt == '"status": "RESOURCE_EXHAUSTED",'
    assert hit.retry_after_s == 37.0


def test_detect_falls_back_to_the_whole_tail() -> None:
    """With no hint near the match, the whole tail is searched."""
    text = "retry after 8 seconds\n" + "x" * 10_000 + "\nrate limit exceeded\n"
    hit = detect_rate_limit(text, GENERIC, now=NOW)
    assert hit is not None
    assert hit.retry_after_s == 8.0


def test_detect_only_looks_at_the_tail() -> None:
    """A match before the last TAIL_CHARS characters is not seen."""
    assert detect_rate_limit("rate limit\n" + "x" * TAIL_CHARS, GENERIC, now=NOW) is None


def test_excerpt_is_trimmed_around_the_match() -> None:
    """A long matching line is cut to about 200 characters that contain the match."""
    line = "a" * 1000 + " usage limit reached " + "b" * 1000
    hit = detect_rate_limit(line, GENERIC, now=NOW)
    assert hit is not None
    assert len(hit.excerpt) <= 202
    assert "usage limit reached" in hit.excerpt
    assert hit.excerpt.startswith("…")
    assert hit.excerpt.endswith("…")


def test_invalid_pattern_raises_re_error() -> None:
    """An invalid pattern is a configuration error surfaced as re.error."""
    with pytest.raises(re.error):
        detect_rate_limit("text", ("(",), now=NOW)


@given(text=st.text(max_size=300))
def test_detect_never_raises(text: str) -> None:
    """Arbitrary text never raises with the generic patterns."""
    hit = detect_rate_limit(text, GENERIC, now=NOW)
    if hit is not None:
        assert len(hit.excerpt) <= 202


# ---------------------------------------------------------------------------------------------
# backoff_delay

DEFAULT = BackoffPolicy()


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (1, 0.0, 1.0),
        (2, 0.0, 2.0),
        (3, 0.0, 4.0),
        (3, 0.5, 4.5),
        (6, 0.0, 32.0),
        (7, 0.0, 60.0),  # 64 capped at maximum_s
        (6, 0.99, 32.99),
        (100, 0.5, 60.0),
        (10_000, 0.5, 60.0),  # 2.0 ** 9999 overflows: clamped
        (10**400, 0.5, 60.0),  # an exponent too large for a float
    ],
)
def test_backoff_formula(attempt: int, rand: float, expected: float) -> None:
    """min(maximum, initial * multiplier**(attempt-1) + jitter*rand), clamped on overflow."""
    assert backoff_delay(attempt, DEFAULT, rand=rand) == pytest.approx(expected)


def test_backoff_edge_policies() -> None:
    """Zero initial wait, a multiplier of 1 and zero jitter behave as the formula says."""
    assert backoff_delay(10**6, BackoffPolicy(initial_s=0.0, jitter_s=2.0), rand=0.5) == 1.0
    assert backoff_delay(10**6, BackoffPolicy(multiplier=1.0, jitter_s=0.0), rand=0.9) == 1.0
    assert backoff_delay(3, BackoffPolicy(initial_s=10, maximum_s=5), rand=0.0) == 5.0


@pytest.mark.parametrize(("attempt", "rand"), [(0, 0.0), (-1, 0.0), (1, 1.0), (1, -0.1)])
def test_backoff_rejects_bad_arguments(attempt: int, rand: float) -> None:
    """Attempt numbers start at 1 and rand is in [0, 1)."""
    with pytest.raises(ValueError, match=r"attempt|rand"):
        backoff_delay(attempt, DEFAULT, rand=rand)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_s": -1.0},
        {"maximum_s": math.inf},
        {"multiplier": 0.5},
        {"multiplier": math.nan},
        {"jitter_s": -0.1},
    ],
)
def test_policy_validation(kwargs: dict[str, float]) -> None:
    """Negative, non-finite or shrinking policies are rejected."""
    with pytest.raises(ValueError, match="must be a finite number"):
        BackoffPolicy(**kwargs)


_POLICIES = st.builds(
    BackoffPolicy,
    initial_s=st.floats(min_value=0, max_value=100),
    maximum_s=st.floats(min_value=0, max_value=1000),
    multiplier=st.floats(min_value=1, max_value=10),
    jitter_s=st.floats(min_value=0, max_value=10),
)
_RAND = st.floats(min_value=0, max_value=1, exclude_max=True)


@given(
    policy=_POLICIES,
    attempt=st.integers(min_value=1, max_value=10**6),
    rand=_RAND,
)
def test_backoff_bounds_and_monotonicity(policy: BackoffPolicy, attempt: int, rand: float) -> None:
    """The delay is in [0, maximum] and never decreases with the attempt number."""
    delay = backoff_delay(attempt, policy, rand=rand)
    assert 0.0 <= delay <= policy.maximum_s
    assert backoff_delay(attempt + 1, policy, rand=rand) >= delay


# ---------------------------------------------------------------------------------------------
# plan_retry


def _plan(
    *,
    attempt: int = 1,
    max_attempts: int = 10,
    hit: RateLimitHit | None = None,
    policy: BackoffPolicy = DEFAULT,
    now: float = NOW,
    deadline: float = FAR,
    rand: float = 0.0,
) -> RetryDecision:
    return plan_retry(
        attempt=attempt,
        max_attempts=max_attempts,
        hit=hit or _hit(),
        policy=policy,
        now=now,
        deadline=deadline,
        rand=rand,
    )


@pytest.mark.parametrize(
    ("case", "kwargs", "delay", "reset_at"),
    [
        ("plain backoff", {}, 1.0, None),
        ("backoff grows", {"attempt": 2, "rand": 0.5}, 2.5, None),
        ("hint longer than backoff", {"hit": _hit(retry_after_s=30)}, 30.0, NOW + 30),
        (
            "backoff longer than hint",
            {"attempt": 2, "hit": _hit(retry_after_s=0.5)},
            2.0,
            NOW + 0.5,
        ),
        ("hint beyond maximum honoured", {"hit": _hit(retry_after_s=600)}, 600.0, NOW + 600),
        ("reset_at in the future", {"hit": _hit(reset_at=NOW + 90)}, 90.0, NOW + 90),
        ("reset_at in the past ignored", {"hit": _hit(reset_at=NOW - 90)}, 1.0, None),
        ("retry_after beats reset_at", {"hit": _hit(5, NOW + 90)}, 5.0, NOW + 5),
        ("zero retry_after still backs off", {"hit": _hit(retry_after_s=0)}, 1.0, NOW),
        ("backoff clamped to the deadline", {"attempt": 6, "deadline": NOW + 11}, 10.0, None),
        ("hint fits just before deadline", {"hit": _hit(9), "deadline": NOW + 10}, 9.0, NOW + 9),
        (
            "hint fits, backoff clamped",
            {"attempt": 6, "hit": _hit(5), "deadline": NOW + 8},
            7.0,
            NOW + 5,
        ),
        ("no deadline", {"attempt": 6, "deadline": math.inf}, 32.0, None),
    ],
)
def test_plan_waits(
    case: str, kwargs: dict[str, object], delay: float, reset_at: float | None
) -> None:
    """Table: the wait is max(backoff, hint), clamped so the next attempt starts before the deadline."""
    decision = _plan(**kwargs)  # type: ignore[arg-type]
    assert decision.delay_s == pytest.approx(delay), case
    assert decision.reset_at == (None if reset_at is None else pytest.approx(reset_at)), case
    assert "retrying in" in decision.reason


@pytest.mark.parametrize(
    ("case", "kwargs", "reason_parts"),
    [
        ("last attempt", {"attempt": 3, "max_attempts": 3}, ["attempt 3 of 3", "no attempts left"]),
        ("past the last attempt", {"attempt": 4, "max_attempts": 3}, ["no attempts left"]),
        (
            "last attempt names the reset",
            {"attempt": 3, "max_attempts": 3, "hit": _hit(reset_at=_ts(2026, 11, 25, 3))},
            ["no attempts left", "resets at 2026-11-25T03:00:00Z (in 9000 s)"],
        ),
        (
            "reset after the deadline",
            {"hit": _hit(reset_at=_ts(2026, 11, 25, 3)), "deadline": NOW + 600},
            [
                "giving up now",
                "resets at 2026-11-25T03:00:00Z (in 9000 s)",
                "after the call's deadline",
                "deadline is 2026-11-25T00:40:00Z (in 600 s)",
            ],
        ),
        (
            "retry-after past the deadline",
            {"hit": _hit(retry_after_s=120), "deadline": NOW + 60},
            ["giving up now", "resets at 2026-11-25T00:32:00Z (in 120 s)", "after the call's"],
        ),
        (
            "hint leaves under a second",
            {"hit": _hit(retry_after_s=9.5), "deadline": NOW + 10},
            ["giving up now", "less than 1.0 s before the call's deadline"],
        ),
        (
            "under a second left",
            {"deadline": NOW + 0.5},
            ["less than 1.0 s is left before the deadline"],
        ),
        ("deadline passed", {"deadline": NOW - 5}, ["less than 1.0 s is left"]),
    ],
)
def test_plan_gives_up(case: str, kwargs: dict[str, object], reason_parts: list[str]) -> None:
    """Table: out of attempts, a hint past the deadline, or no time left means give up now."""
    decision = _plan(**kwargs)  # type: ignore[arg-type]
    assert decision.delay_s is None, case
    for part in reason_parts:
        assert part in decision.reason, (case, decision.reason)


def test_plan_reason_names_wait_reset_and_deadline() -> None:
    """A wait's reason says how long, why, when the limit resets and the deadline."""
    decision = _plan(hit=_hit(reset_at=NOW + 90), deadline=NOW + 600)
    assert decision.reason == (
        "rate limited on attempt 1 of 10 ('rate limit' matched); retrying in 90 s (as the CLI asked); "
        "the limit resets at 2026-11-25T00:31:30Z (in 90 s); "
        "the call's deadline is 2026-11-25T00:40:00Z (in 600 s)"
    )


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        (
            {
                "attempt": 3,
                "max_attempts": 3,
                "hit": _hit(reset_at=NOW + 90),
                "deadline": NOW + 600,
            },
            "rate limited on attempt 3 of 3 ('rate limit' matched); no attempts left, giving up; "
            "the limit resets at 2026-11-25T00:31:30Z (in 90 s)",
        ),
        (
            {"hit": _hit(retry_after_s=9.5), "deadline": NOW + 10},
            "rate limited on attempt 1 of 10 ('rate limit' matched); giving up now; "
            "the limit resets at 2026-11-25T00:30:09Z (in 9.5 s); "
            "that is less than 1.0 s before the call's deadline; "
            "the call's deadline is 2026-11-25T00:30:10Z (in 10 s)",
        ),
        (
            {"deadline": NOW - 5},
            "rate limited on attempt 1 of 10 ('rate limit' matched); giving up: less than 1.0 s "
            "is left before the deadline; the call's deadline is 2026-11-25T00:29:55Z (in 0.0 s)",
        ),
        (
            {"attempt": 2, "deadline": math.inf},
            "rate limited on attempt 2 of 10 ('rate limit' matched); retrying in 2.0 s (backoff)",
        ),
    ],
    ids=["out of attempts", "hint too close to the deadline", "deadline passed", "no deadline"],
)
def test_plan_reason_in_full(kwargs: dict[str, object], reason: str) -> None:
    """Every branch's whole reason: the hit, the verdict, the reset time, then the deadline
    (a decision for want of attempts leaves the deadline out; a call without one has none)."""
    assert _plan(**kwargs).reason == reason  # type: ignore[arg-type]


def test_plan_reason_when_shortened() -> None:
    """A backoff cut short by the deadline says so."""
    decision = _plan(attempt=6, deadline=NOW + 11)
    assert "shortened from 32 s" in decision.reason


def test_plan_rejects_bad_clock() -> None:
    """A non-finite now or a NaN deadline is a caller bug."""
    with pytest.raises(ValueError, match="now must be finite"):
        _plan(now=math.nan)
    with pytest.raises(ValueError, match="now must be finite"):
        _plan(deadline=math.nan)


_HINTS = st.one_of(
    st.none(),
    st.floats(min_value=0, max_value=1e6),
)


@given(
    attempt=st.integers(min_value=1, max_value=50),
    max_attempts=st.integers(min_value=1, max_value=50),
    retry_after=_HINTS,
    reset_in=st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e6)),
    policy=_POLICIES,
    now=st.floats(min_value=0, max_value=4e9),
    budget=st.one_of(st.floats(min_value=-100, max_value=1e6), st.just(math.inf)),
    rand=_RAND,
)
def test_plan_properties(
    attempt: int,
    max_attempts: int,
    retry_after: float | None,
    reset_in: float | None,
    policy: BackoffPolicy,
    now: float,
    budget: float,
    rand: float,
) -> None:
    """Delays are never negative, never pass the deadline, and stay <= maximum without a hint."""
    reset_at = None if reset_in is None else now + reset_in
    hit = _hit(retry_after, reset_at)
    deadline = now + budget
    decision = plan_retry(
        attempt=attempt,
        max_attempts=max_attempts,
        hit=hit,
        policy=policy,
        now=now,
        deadline=deadline,
        rand=rand,
    )
    if attempt >= max_attempts:
        assert decision.delay_s is None
    if decision.delay_s is None:
        return
    assert decision.delay_s >= 0.0
    assert now + decision.delay_s <= deadline
    assert deadline - (now + decision.delay_s) >= MIN_ATTEMPT_S * (1 - 1e-9)
    has_hint = retry_after is not None or (reset_at is not None and reset_at > now)
    if not has_hint:
        assert decision.delay_s <= policy.maximum_s
    else:
        hint = retry_after if retry_after is not None else reset_at - now  # type: ignore[operator]
        assert decision.delay_s >= hint


@given(
    policy=_POLICIES,
    retry_after=_HINTS,
    budget=st.one_of(st.floats(min_value=0, max_value=1e5), st.just(math.inf)),
    rand=_RAND,
    attempt=st.integers(min_value=1, max_value=40),
)
def test_plan_monotone_in_attempt(
    policy: BackoffPolicy, retry_after: float | None, budget: float, rand: float, attempt: int
) -> None:
    """With rand fixed the delay never decreases as the attempt number grows."""

    def delay(n: int) -> float | None:
        return plan_retry(
            attempt=n,
            max_attempts=100,
            hit=_hit(retry_after),
            policy=policy,
            now=NOW,
            deadline=NOW + budget,
            rand=rand,
        ).delay_s

    first, second = delay(attempt), delay(attempt + 1)
    if first is not None and second is not None:
        assert second >= first
    # giving up never depends on the attempt number while attempts remain
    assert (first is None) == (second is None)
