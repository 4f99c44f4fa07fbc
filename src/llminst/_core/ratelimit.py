"""Rate limits in a CLI's output: is it a rate or usage limit, and did the CLI say how long to wait?

This module owns two questions and nothing else:

* *Is this output a rate or usage limit?* -- `detect_rate_limit` searches a CLI's output (stdout and
  stderr, as the caller joins them) with the model's case-insensitive patterns.
* *Did the CLI say how long to wait?* -- `parse_retry_hint` reads "retry after 30 seconds",
  ``"retryDelay": "37s"``, "resets at 2026-11-25T03:00:00Z", ``usage limit reached|1764039600``,
  "resets 5pm (Europe/London)" and similar into ``(retry_after_s, reset_at)``.

Whether and when to retry is `backoff`'s question. This module must never import trio, sleep,
read a clock or log: the current time (``now``) and the local timezone (``tz``) are parameters, so
every rule is tested by feeding values. The only I/O is `zoneinfo` loading a named zone ("resets
5pm (Europe/London)") from the system's time zone database. Work is bounded: only the last
`TAIL_CHARS` characters of any text are examined, and the regexes use bounded repetition.
"""

from __future__ import annotations

import email.utils
import functools
import math
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import attrs

__all__ = ["TAIL_CHARS", "RateLimitHit", "detect_rate_limit", "parse_retry_hint"]

TAIL_CHARS = 64 * 1024
"""Only this many characters at the end of a text are searched (the newest output matters)."""

_EXCERPT_CHARS = 200
_HINT_WINDOW_CHARS = 4096  # "near the match": this much text either side of the matched line

# Accepted range for absolute times: 2000-01-01 .. 2100-01-01 (epoch seconds). Anything outside
# is a misread number, not a reset time.
_EPOCH_MIN = 946_684_800.0
_EPOCH_MAX = 4_102_444_800.0


# ---------------------------------------------------------------------------------------------
# Detection


@attrs.frozen
class RateLimitHit:
    """A rate or usage limit found in a CLI's output.

    Attributes:
        pattern: the pattern that matched (as configured).
        excerpt: the line the match is on, trimmed to about 200 characters around the match.
        retry_after_s: seconds to wait, if the text says so ("retry after 30 s").
        reset_at: epoch seconds when the limit resets, if the text says so ("resets 5pm").
    """

    pattern: str
    excerpt: str
    retry_after_s: float | None
    reset_at: float | None


@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def detect_rate_limit(
    text: str, patterns: Sequence[str], *, now: float, tz: tzinfo = UTC
) -> RateLimitHit | None:
    """Find a rate or usage limit in ``text``.

    Only the last `TAIL_CHARS` characters are searched. When several patterns match, the match
    that starts last in the text wins (the newest report); on a tie, the earlier pattern. The
    retry hint is read from the matched line, else from the text within a few KiB around it, else
    from the whole tail (see `parse_retry_hint`).

    Args:
        text: the CLI's output.
        patterns: regular expressions, searched case-insensitively.
        now: the current time, epoch seconds (to resolve "resets 5pm").
        tz: the local timezone for clock times without a named zone.

    Returns:
        The hit, or None when no pattern matches.

    Raises:
        re.error: a pattern is not a valid regular expression (config validation prevents it).
    """
    tail = text[-TAIL_CHARS:]
    best: tuple[re.Match[str], str] | None = None
    for pattern in patterns:
        last = None
        for last in _compile(pattern).finditer(tail):  # noqa: B007 -- we want the last match
            pass
        if last is not None and (best is None or last.start() > best[0].start()):
            best = (last, pattern)
    if best is None:
        return None
    match, pattern = best
    line_start = tail.rfind("\n", 0, match.start()) + 1
    line_end = tail.find("\n", match.end())
    if line_end == -1:
        line_end = len(tail)
    candidates = (
        tail[line_start:line_end],
        tail[max(0, line_start - _HINT_WINDOW_CHARS) : line_end + _HINT_WINDOW_CHARS],
        tail,
    )
    retry_after_s = reset_at = None
    for candidate in candidates:
        retry_after_s, reset_at = parse_retry_hint(candidate, now=now, tz=tz)
        if retry_after_s is not None or reset_at is not None:
            break
    return RateLimitHit(
        pattern=pattern,
        excerpt=_excerpt(tail, line_start, line_end, match.start()),
        retry_after_s=retry_after_s,
        reset_at=reset_at,
    )


def _excerpt(text: str, line_start: int, line_end: int, match_start: int) -> str:
    """The matched line, stripped; a long line is cut to a window that starts shortly before the match."""
    line = text[line_start:line_end]
    stripped = line.strip()
    if len(stripped) <= _EXCERPT_CHARS:
        return stripped
    offset = match_start - line_start
    start = max(0, min(offset - 60, len(line) - _EXCERPT_CHARS))
    piece = line[start : start + _EXCERPT_CHARS].strip()
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + _EXCERPT_CHARS < len(line) else ""
    return f"{prefix}{piece}{suffix}"


# ---------------------------------------------------------------------------------------------
# Retry hints

# A number: bounded digit counts, so no huge int conversions and no float overflow.
_NUM = r"(?<![\d.])\d{1,12}(?:\.\d{1,9})?(?![\d])"
_UNIT = (
    r"(?:milliseconds?|millis|msecs?|ms|seconds?|secs?|s|minutes?|mins?|m"
    r"|hours?|hrs?|h|days?|d)(?![a-z])"
)
_UNIT_SECONDS = {
    **dict.fromkeys(("ms", "msec", "msecs", "millis", "millisecond", "milliseconds"), 0.001),
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600.0),
    **dict.fromkeys(("d", "day", "days"), 86400.0),
}
# "2m30s", "1h 30m", "2 minutes and 30 seconds", or a bare number (seconds, or the key's unit).
_DURATION = (
    rf"(?P<dur>{_NUM}[ ]?{_UNIT}(?:[ ,]{{0,3}}(?:and[ ]{{1,3}})?{_NUM}[ ]?{_UNIT}){{0,4}}"
    rf"|{_NUM}(?![ ]?[a-z]))"
)
_DURATION_PART = re.compile(rf"({_NUM})[ ]?({_UNIT})?", re.IGNORECASE)
_SEP = r"[\"']?[ \t]{0,4}(?:[:=][ \t]{0,4})?[\"']?"

# "retry after 30 seconds", "Retry-After: 30", "retry_delay_ms": 2000, "retryDelay": "37s"
_KEYED_DURATION = re.compile(
    rf"\bretry[ _-]?(?:after|delay)(?:[_-]?(?P<keyunit>ms|millis|milliseconds|secs?|seconds|s))?"
    rf"{_SEP}{_DURATION}",
    re.IGNORECASE,
)
# "please retry in 12.5s", "try again in 2m30s", "Please try again in 1h", "try again after 20 minutes"
_IN_DURATION = re.compile(
    rf"\b(?:retry|try[ ]again)[ ]{{1,3}}(?:in|after)[ ]{{1,3}}(?:about[ ]{{1,3}})?{_DURATION}",
    re.IGNORECASE,
)
# "Retry-After: Wed, 21 Oct 2026 07:28:00 GMT" (the HTTP-date form of the header)
_HTTP_DATE = re.compile(
    r"\bretry-after:[ \t]{0,4}(?P<date>[a-z]{3},[ ]\d{1,2}[ ][a-z]{3}[ ]\d{4}[ ]\d{2}:\d{2}:\d{2}[ ]GMT)",
    re.IGNORECASE,
)

_RESET_KEY = (
    r"(?:\breset(?:s|ting)?(?:[ _-]?(?:at|time|on))?|\buntil|\b(?:try[ ]again|retry)[ ]at)"
    r"(?![a-z])"
)
# "resets at 2026-11-25T03:00:00Z", "resetsAt": "2026-11-25T03:00:00+01:00", "until 2026-11-25"
_RESET_ISO = re.compile(
    rf"{_RESET_KEY}{_SEP}(?P<iso>\d{{4}}-\d{{2}}-\d{{2}}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?(?:[ ]?(?:Z|UTC|[+-]\d{2}(?::?\d{2})?))?)(?![\d:])",
    re.IGNORECASE,
)
# "resetsAt": 1764039600, "x-ratelimit-reset: 1764039600000"
_RESET_EPOCH = re.compile(
    rf"{_RESET_KEY}{_SEP}(?P<epoch>\d{{10}}|\d{{13}})(?![\d.:])",
    re.IGNORECASE,
)
# "Claude AI usage limit reached|1764039600"
_PIPE_EPOCH = re.compile(r"\|[ ]{0,3}(?P<epoch>\d{10}|\d{13})(?![\d.:])")
_CLOCK = (
    r"(?:(?P<h12>\d{1,2})(?::(?P<m12>\d{2}))?[ ]?(?P<ampm>[ap])\.?m\.?(?![a-z])"
    r"|(?P<h24>\d{1,2}):(?P<m24>\d{2})(?![\d:]))"
)
_ZONE = r"(?:[ ]{0,3}\((?P<zone>[a-z][a-z0-9_+-]{0,30}(?:/[a-z0-9_+-]{1,30}){0,3})\))?"
# "resets 1am", "resets 3:30pm", "resets at 17:00", "resets 5pm (Europe/London)"
_RESET_CLOCK = re.compile(rf"{_RESET_KEY}[ ]{{0,3}}(?:at[ ]{{1,3}})?{_CLOCK}{_ZONE}", re.IGNORECASE)
# "resets Nov 25, 10am (Europe/Paris)", "resets on Oct 9 at 3:30pm"
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_RESET_DATE_CLOCK = re.compile(
    rf"{_RESET_KEY}[ ]{{0,3}}(?:on[ ]{{1,3}})?(?P<mon>{'|'.join(_MONTHS)})[a-z]{{0,6}}\.?[ ]{{1,3}}"
    rf"(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?[ ]{{0,3}}(?:at[ ]{{1,3}})?{_CLOCK}{_ZONE}",
    re.IGNORECASE,
)

_Reader = Callable[[re.Match[str], float, tzinfo], float | None]


def _read_duration(match: re.Match[str], _now: float, _tz: tzinfo) -> float | None:
    groups = match.groupdict()
    default_unit = _UNIT_SECONDS[(groups.get("keyunit") or "s").lower()]
    total = 0.0
    for part in _DURATION_PART.finditer(match.group("dur")):
        unit = part.group(2)
        total += float(part.group(1)) * (_UNIT_SECONDS[unit.lower()] if unit else default_unit)
    return total


def _read_http_date(match: re.Match[str], _now: float, _tz: tzinfo) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(match.group("date")).timestamp()
    except (ValueError, TypeError, OverflowError, IndexError):
        return None


def _read_iso(match: re.Match[str], _now: float, tz: tzinfo) -> float | None:
    raw = match.group("iso").upper().replace(" UTC", "Z").replace("UTC", "Z")
    if raw.endswith("Z"):
        raw = raw[:-1].rstrip() + "+00:00"
    try:
        moment = datetime.fromisoformat(raw)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        return moment.timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def _read_epoch(match: re.Match[str], _now: float, _tz: tzinfo) -> float | None:
    value = float(match.group("epoch"))
    return value / 1000.0 if value >= 1e11 else value


def _zone(name: str | None, fallback: tzinfo) -> tzinfo:
    if not name:
        return fallback
    try:
        return ZoneInfo(name)
    except Exception:  # unknown zone, a directory, a bad key: use the caller's zone
        return fallback


def _clock_time(match: re.Match[str]) -> time | None:
    if match.group("ampm"):
        hour, minute = int(match.group("h12")), int(match.group("m12") or 0)
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match.group("ampm").lower() == "p" else 0)
    else:
        hour, minute = int(match.group("h24")), int(match.group("m24"))
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _read_clock(match: re.Match[str], now: float, tz: tzinfo) -> float | None:
    """The next occurrence of the clock time strictly after ``now``, in the named zone or ``tz``."""
    clock = _clock_time(match)
    if clock is None:
        return None
    zone = _zone(match.group("zone"), tz)
    try:
        today = datetime.fromtimestamp(now, zone).date()
        for days in range(3):  # today, tomorrow; one more in case a DST gap shifted the time
            moment = datetime.combine(today + timedelta(days=days), clock, tzinfo=zone)
            if moment.timestamp() > now:
                return moment.timestamp()
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _read_date_clock(match: re.Match[str], now: float, tz: tzinfo) -> float | None:
    """The next occurrence of "Nov 25, 10am" strictly after ``now`` (this year or next)."""
    clock = _clock_time(match)
    if clock is None:
        return None
    zone = _zone(match.group("zone"), tz)
    month = _MONTHS.index(match.group("mon").lower()) + 1
    try:
        year = datetime.fromtimestamp(now, zone).year
        for candidate_year in (year, year + 1):
            try:
                day = date(candidate_year, month, int(match.group("day")))
            except ValueError:  # Feb 30, or Feb 29 in a common year
                continue
            moment = datetime.combine(day, clock, tzinfo=zone).timestamp()
            if moment > now:
                return moment
    except (ValueError, OverflowError, OSError):
        return None
    return None


# (regex, reader, kind): "after" readers give seconds to wait, "at" readers give epoch seconds.
_HINT_RULES: tuple[tuple[re.Pattern[str], _Reader, str], ...] = (
    (_KEYED_DURATION, _read_duration, "after"),
    (_IN_DURATION, _read_duration, "after"),
    (_HTTP_DATE, _read_http_date, "at"),
    (_RESET_ISO, _read_iso, "at"),
    (_RESET_EPOCH, _read_epoch, "at"),
    (_PIPE_EPOCH, _read_epoch, "at"),
    (_RESET_DATE_CLOCK, _read_date_clock, "at"),
    (_RESET_CLOCK, _read_clock, "at"),
)


def _valid(value: float, kind: str) -> bool:
    if not math.isfinite(value):
        return False
    if kind == "after":
        return value >= 0.0
    return _EPOCH_MIN <= value <= _EPOCH_MAX


def parse_retry_hint(
    text: str, *, now: float, tz: tzinfo = UTC
) -> tuple[float | None, float | None]:
    """Read how long to wait from a rate-limit message.

    Understood forms (case-insensitive; the last occurrence of each kind in the text wins):

    * a duration after a retry key: ``Retry-After: 30``, ``retry after 30 seconds``,
      ``"retry_delay_ms": 2000`` (a unit in the key applies to a bare number), ``"retryDelay": "37s"``;
    * a duration after "retry in" / "try again in/after": ``please retry in 12.5s``,
      ``try again in 2m30s``, ``try again in 20 minutes``, ``Please try again in 1h``;
      units ms, s, m, h, d in short or long form, compound forms added up, a bare number is seconds;
    * an absolute time after "reset(s)(at)" / "until": ISO 8601 (``resets at 2026-11-25T03:00:00Z``,
      with ``Z`` or an offset; without one it is read in ``tz``), or epoch seconds / milliseconds
      (``"resetsAt": 1764039600``);
    * epoch seconds or milliseconds after a pipe: ``Claude AI usage limit reached|1764039600``;
    * ``Retry-After: <HTTP-date>``;
    * a clock time after "resets": ``resets 1am``, ``resets 3:30pm``, ``resets 17:00``,
      ``resets 5pm (Europe/London)``, ``resets Nov 25, 10am``: the next occurrence strictly after
      ``now``, in the named IANA zone if one is given (and known), else in ``tz`` -- a time already
      past today means tomorrow.

    Only the last `TAIL_CHARS` characters are read. Absolute times outside 2000..2100 are ignored
    as misreads. This function never raises on any text.

    Args:
        text: the message (or the output around it).
        now: the current time, epoch seconds.
        tz: the local timezone for clock times and ISO times without an offset.

    Returns:
        ``(retry_after_s, reset_at)``: seconds to wait (finite, >= 0) and the epoch time the limit
        resets (finite, in 2000..2100); each None when the text does not say. A reset time may be
        in the past; `plan_retry` ignores it then.
    """
    tail = text[-TAIL_CHARS:]
    found: dict[str, tuple[int, float]] = {}
    for regex, reader, kind in _HINT_RULES:
        for match in regex.finditer(tail):
            value = reader(match, now, tz)
            if value is None or not _valid(value, kind):
                continue
            if kind not in found or match.start() >= found[kind][0]:
                found[kind] = (match.start(), value)
    after = found.get("after")
    at = found.get("at")
    return (after[1] if after else None, at[1] if at else None)
