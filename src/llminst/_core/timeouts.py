"""Timeout categories and choosing one from the prompt.

This module owns how long a call may run: the four categories and their seconds, the rules that
read a category off the prompt text (`select_category`), and the final choice for a call
(`resolve_timeout`). Pure: it must never read a clock, start a timer or touch trio; the supervisor
turns the chosen seconds into a cancel scope deadline.

The rule, in one place:

* An explicit timeout (seconds) always wins; it must be a real number in (0, 86400].
* Otherwise, if a rule matched the prompt, the category is ``max(default, matched)`` in the order
  QUICK < NORMAL < LONG < EXTENDED; if no rule matched, it is ``default`` (the model's own
  category, which may be QUICK). The prompt can only *raise* the model's default, never lower
  it: a guess from the wording must not cut off a call that would have succeeded, while a timeout
  that is too long only costs time when the CLI hangs. So a model whose default is LONG always gets
  at least LONG, and a QUICK prompt ("what is 2+2") on a NORMAL model stays NORMAL; QUICK from the
  prompt is reported by `select_category` (useful in logs) but only a QUICK default gives QUICK.

`select_category` reads, highest category first wins:

* the prompt's length (`_LENGTH_RULES`): >= 20,000 characters is LONG, >= 100,000 EXTENDED;
* requested output sizes (`_AMOUNT_RULES`): "2000 words", "5,000-word", "10 pages", "8k tokens"
  are converted to words (a page is 500 words, a token 0.75 words): >= 1,500 words is LONG,
  >= 5,000 words EXTENDED;
* phrases (`_PHRASE_RULES`, a table of ``(regex, category)``): "comprehensive guide", "detailed
  report", "in-depth analysis", "step by step tutorial" are LONG; "entire codebase", "whole
  repository", "analyze all files", "refactor the whole project", "write a novel" are EXTENDED;
* only when nothing above matched and the prompt is at most `QUICK_MAX_CHARS` long, the QUICK
  phrases (`_QUICK_RULES`): "what is 2+2", "translate 'hello'", "yes or no", "one word";
* otherwise no rule matched: `select_category` says NORMAL, `resolve_timeout` uses the default.
"""

from __future__ import annotations

import contextlib
import enum
import math
import re
from numbers import Real

import attrs

from .errors import InvalidInputError

__all__ = [
    "MAX_EXPLICIT_TIMEOUT_S",
    "QUICK_MAX_CHARS",
    "TimeoutCategory",
    "TimeoutChoice",
    "resolve_timeout",
    "select_category",
]


class TimeoutCategory(enum.Enum):
    """How long a call may run, by kind of request."""

    QUICK = "quick"
    NORMAL = "normal"
    LONG = "long"
    EXTENDED = "extended"

    @property
    def seconds(self) -> float:
        return _SECONDS[self]

    @classmethod
    def parse(cls, value: str | TimeoutCategory) -> TimeoutCategory:
        """Parse a category name (case-insensitive); raises ValueError naming the valid ones."""
        if isinstance(value, TimeoutCategory):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            valid = ", ".join(c.value for c in cls)
            raise ValueError(f"unknown timeout category {value!r}; use one of: {valid}") from None


_SECONDS = {
    TimeoutCategory.QUICK: 60.0,
    TimeoutCategory.NORMAL: 300.0,
    TimeoutCategory.LONG: 600.0,
    TimeoutCategory.EXTENDED: 1800.0,
}


_RANK = {category: rank for rank, category in enumerate(TimeoutCategory)}

MAX_EXPLICIT_TIMEOUT_S = 86400.0
"""The longest explicit timeout accepted (one day)."""

QUICK_MAX_CHARS = 200
"""A prompt longer than this is never QUICK, whatever it says."""

# (minimum prompt length in characters, category), largest first.
_LENGTH_RULES: tuple[tuple[int, TimeoutCategory], ...] = (
    (100_000, TimeoutCategory.EXTENDED),
    (20_000, TimeoutCategory.LONG),
)

# (minimum requested words, category), largest first.
_WORD_THRESHOLDS: tuple[tuple[float, TimeoutCategory], ...] = (
    (5000, TimeoutCategory.EXTENDED),
    (1500, TimeoutCategory.LONG),
)

_AMOUNT = (
    r"(?<![\d.,])(?P<num>\d{1,3}(?:,\d{3})+|\d{1,9}(?:\.\d{1,3})?)[ ]?(?P<k>k)?"
    r"(?:[ ]?\+)?[ -]?(?:[a-z]+[ -]){0,1}?"
)
# (regex capturing an amount, words per unit)
_AMOUNT_RULES: tuple[tuple[re.Pattern[str], float], ...] = (
    (re.compile(_AMOUNT + r"words?\b", re.IGNORECASE), 1.0),
    (re.compile(_AMOUNT + r"pages?\b", re.IGNORECASE), 500.0),
    (re.compile(_AMOUNT + r"tokens?\b", re.IGNORECASE), 0.75),
)


def _rules(
    *pairs: tuple[str, TimeoutCategory],
) -> tuple[tuple[re.Pattern[str], TimeoutCategory], ...]:
    return tuple((re.compile(regex, re.IGNORECASE), category) for regex, category in pairs)


_LONG, _EXTENDED, _QUICK = TimeoutCategory.LONG, TimeoutCategory.EXTENDED, TimeoutCategory.QUICK

# Spaces and filler words use bounded repetition so a long prompt cannot make a regex backtrack.
_W = r"(?:[\w'-]{1,30}[ ]{1,3})"  # one filler word and its space

_PHRASE_RULES = _rules(
    (
        rf"\b(?:comprehensive|exhaustive|complete|definitive|ultimate)[ ]{{1,3}}{_W}?"
        r"(?:guide|report|overview|analysis|review|documentation|tutorial|handbook)",
        _LONG,
    ),
    (
        rf"\bdetailed[ ]{{1,3}}{_W}?(?:report|analysis|guide|documentation|tutorial|"
        r"design[ ]doc|specification|plan|review|write-?up)",
        _LONG,
    ),
    (r"\bin[ -]depth\b", _LONG),
    (rf"\bstep[ -]by[ -]step[ ]{{1,3}}{_W}?(?:tutorial|guide|walkthrough|course)", _LONG),
    (
        rf"\b(?:thorough|extensive)(?:ly)?[ ]{{1,3}}{_W}?(?:review|analysis|audit|report|guide)",
        _LONG,
    ),
    (r"\b(?:long-?form|white[ ]?paper|research[ ]paper|literature[ ]review)\b", _LONG),
    (
        r"\b(?:entire|whole|full)[ ]{1,3}(?:code[ ]?base|repo(?:sitory)?|project|monorepo|"
        r"source[ ]tree)",
        _EXTENDED,
    ),
    (
        r"\b(?:analy[sz]e|review|audit|refactor|rewrite|document|scan|read|check|migrate|"
        r"go[ ]through)[ ]{1,3}(?:all|every|each)[ ]{1,3}(?:of[ ]{1,3})?(?:the[ ]{1,3})?"
        rf"{_W}?files?\b",
        _EXTENDED,
    ),
    (
        rf"\bwrite[ ]{{1,3}}(?:me[ ]{{1,3}})?{_W}{{0,3}}?(?:novel(?:la)?|book)\b"
        r"(?![ -](?:report|review|summary|title|blurb))",
        _EXTENDED,
    ),
)

# Only tried on prompts of at most QUICK_MAX_CHARS characters.
_QUICK_RULES = _rules(
    (
        r"^\W*(?:what(?:'s|[ ]is)|how[ ]much[ ]is|calculate|compute)[ ]+[\d(][\d\s.+\-*/x×^()]*\W*$",
        _QUICK,
    ),
    (r"^\W*\d[\d\s.]*[+\-*/x×^][\d\s.+\-*/x×^()]*=?\W*$", _QUICK),
    (r"^\W*translate\b", _QUICK),
    (r"\byes[ ]or[ ]no\b|\btrue[ ]or[ ]false\b", _QUICK),
    (r"\b(?:one|single|1)[ -]word\b|\bin[ ]a[ ]word\b", _QUICK),
    (r"\b(?:just|only)[ ]+(?:the[ ]+|a[ ]+)?(?:number|name|answer|digit|letter)\b", _QUICK),
)


def _amount_words(prompt: str) -> float:
    """The largest output size the prompt asks for, in words (0 when it names none)."""
    largest = 0.0
    for regex, words_per_unit in _AMOUNT_RULES:
        for match in regex.finditer(prompt):
            number = float(match.group("num").replace(",", ""))
            if match.group("k"):
                number *= 1000
            largest = max(largest, number * words_per_unit)
    return largest


def select_category(prompt: str) -> TimeoutCategory:
    """The category the prompt's length and wording call for (see the module docstring).

    Args:
        prompt: the prompt text.

    Returns:
        The highest category among the length, amount and phrase rules that match; else QUICK
        if a short prompt matches a QUICK phrase; else NORMAL.
    """
    return _matched_category(prompt) or TimeoutCategory.NORMAL


def _matched_category(prompt: str) -> TimeoutCategory | None:
    """Like `select_category`, but None when no rule matched."""
    found = next((cat for min_chars, cat in _LENGTH_RULES if len(prompt) >= min_chars), None)
    if found is TimeoutCategory.EXTENDED:
        return found  # nothing ranks higher: no need to scan a huge prompt
    words = _amount_words(prompt)
    found = _higher(found, next((cat for least, cat in _WORD_THRESHOLDS if words >= least), None))
    for regex, category in _PHRASE_RULES:
        if (found is None or _RANK[category] > _RANK[found]) and regex.search(prompt):
            found = category
    if found is not None or len(prompt) > QUICK_MAX_CHARS:
        return found
    return TimeoutCategory.QUICK if any(r.search(prompt) for r, _ in _QUICK_RULES) else None


def _higher(
    current: TimeoutCategory | None, other: TimeoutCategory | None
) -> TimeoutCategory | None:
    """The higher of two categories (None ranks lowest)."""
    if current is None or (other is not None and _RANK[other] > _RANK[current]):
        return other
    return current


@attrs.frozen
class TimeoutChoice:
    """The timeout chosen for one call.

    Attributes:
        seconds: how long the call may run.
        category: ``"quick"``, ``"normal"``, ``"long"``, ``"extended"``, or ``"explicit"`` when the
            caller gave the seconds.
    """

    seconds: float
    category: str


def resolve_timeout(
    prompt: str, *, explicit: float | None, default: TimeoutCategory = TimeoutCategory.NORMAL
) -> TimeoutChoice:
    """Choose the timeout of a call.

    An explicit timeout always wins. Otherwise, when a rule of `select_category` matched the
    prompt, the category is ``max(default, that category)``; when none matched, it is ``default``.
    The prompt can raise the model's default category, never lower it.

    Args:
        prompt: the prompt text.
        explicit: seconds the caller asked for, or None to choose from the prompt.
        default: the model's default category.

    Returns:
        The seconds and the category they come from.

    Raises:
        InvalidInputError: ``explicit`` is not a real number (``bool`` is not), not finite, <= 0 or
            more than 86400.
    """
    if explicit is not None:
        return TimeoutChoice(seconds=_check_explicit(explicit), category="explicit")
    category = _higher(default, _matched_category(prompt)) or default
    return TimeoutChoice(seconds=category.seconds, category=category.value)


def _check_explicit(value: object) -> float:
    seconds = math.nan
    if isinstance(value, Real) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):  # an int too large for a float stays NaN
            seconds = float(value)
    if math.isfinite(seconds) and 0 < seconds <= MAX_EXPLICIT_TIMEOUT_S:
        return seconds
    raise InvalidInputError(
        f"timeout must be between 0 and {MAX_EXPLICIT_TIMEOUT_S:.0f} seconds, got {value!r}; "
        "omit it to pick a category from the prompt"
    )
