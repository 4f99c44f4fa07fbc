"""Early stop: notices a CLI repeating one connection or credentials error without answering.

Some CLIs never give up when they cannot reach their API: codex without a network prints
``Reconnecting... waiting for network`` for as long as it is left running, and others retry for
minutes. `RepeatedErrorDetector` is fed a call's stderr bytes and the events its output decoder
produced; it reports a `RepeatedError` once one error line that matches the model's connection
(``unreachable_patterns``) or credentials (``auth_patterns``) patterns has come `repeats` times
before any answer text. The supervisor then ends the call instead of waiting out its timeout.

Two lines are the same error when they differ only in digits (timestamps, attempt counters,
ports). Once answer text arrives the detector stays quiet: a CLI that answers reaches its API.

Pure and sans-IO like the decoders: it never uses trio, a process, a file or a clock, and its
memory is bounded (one partial stderr line, a bounded number of distinct error lines).
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable

from attrs import frozen

from .decoders import strip_terminal_codes
from .events import ErrorNotice, Event, TextDelta

__all__ = ["RepeatedError", "RepeatedErrorDetector", "RepeatedErrorKind"]

_MAX_LINE_BYTES = 4096  # a line is matched on its first 4 KiB; the rest is not kept
_MAX_DISTINCT_LINES = 256  # distinct matching lines counted; later new ones are ignored
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")


class RepeatedErrorKind(enum.Enum):
    """What the repeated line says is wrong."""

    UNREACHABLE = "unreachable"
    """It matched the connection patterns: the CLI cannot reach its API."""
    CREDENTIALS = "credentials"
    """It matched the credentials patterns: the CLI is not logged in or has no valid key."""


@frozen
class RepeatedError:
    """One error line the CLI repeated `count` times before answering.

    Attributes:
        kind: what the line says is wrong.
        line: the line as the CLI last printed it (terminal codes removed, at most 300 chars).
        count: how often it came (the detector's `repeats`).
        source: ``"stderr"``, or ``"output"`` for an error the CLI reported in its output.
    """

    kind: RepeatedErrorKind
    line: str
    count: int
    source: str


class RepeatedErrorDetector:
    """Counts connection and credentials error lines until one repeats `repeats` times.

    Args:
        unreachable_patterns: regexes (case-insensitive) meaning "cannot reach the API".
        auth_patterns: regexes (case-insensitive) meaning "not logged in / no API key";
            checked first, so a line matching both counts as a credentials error.
        repeats: how often the same line must come; 0 turns the detector off.
    """

    def __init__(
        self,
        *,
        unreachable_patterns: Iterable[str],
        auth_patterns: Iterable[str],
        repeats: int,
    ) -> None:
        if repeats < 0:
            raise ValueError(f"repeats must be at least 0, got {repeats}")
        self._rules = [
            (RepeatedErrorKind.CREDENTIALS, _compile(auth_patterns)),
            (RepeatedErrorKind.UNREACHABLE, _compile(unreachable_patterns)),
        ]
        self._repeats = repeats
        self._counts: dict[str, int] = {}
        self._partial = bytearray()
        self._answered = False
        self._found: RepeatedError | None = None

    @property
    def found(self) -> RepeatedError | None:
        """The repeated error, once there is one (it never changes afterwards)."""
        return self._found

    def feed_event(self, event: Event) -> RepeatedError | None:
        """See one decoded output event: answer text disarms, an `ErrorNotice` is counted.

        Returns:
            The repeated error when this event completes one, else None.
        """
        if isinstance(event, TextDelta) and event.text.strip():
            self._answered = True
        elif isinstance(event, ErrorNotice):
            return self._see(event.message, "output")
        return None

    def feed_stderr(self, data: bytes) -> RepeatedError | None:
        """See the next chunk of stderr (split anywhere); each complete line is counted.

        Returns:
            The repeated error when a line in this chunk completes one, else None.
        """
        *complete, rest = data.split(b"\n")
        found = None
        for piece in complete:
            self._keep(piece)
            line, self._partial = bytes(self._partial), bytearray()
            found = found or self._see(line.decode("utf-8", "replace"), "stderr")
        self._keep(rest)
        return found

    def _keep(self, piece: bytes) -> None:
        room = _MAX_LINE_BYTES - len(self._partial)
        if room > 0:
            self._partial += piece[:room]

    def _see(self, text: str, source: str) -> RepeatedError | None:
        if self._found is not None or self._answered or not self._repeats:
            return None
        line = strip_terminal_codes(text).strip()
        kind = self._kind_of(line)
        if kind is None:
            return None
        key = _SPACES.sub(" ", _DIGITS.sub("#", line.lower()))
        if key not in self._counts and len(self._counts) >= _MAX_DISTINCT_LINES:
            return None
        count = self._counts[key] = self._counts.get(key, 0) + 1
        if count >= self._repeats:
            self._found = RepeatedError(kind, line[:300], count, source)
        return self._found

    def _kind_of(self, line: str) -> RepeatedErrorKind | None:
        for kind, patterns in self._rules:
            if any(pattern.search(line) for pattern in patterns):
                return kind
        return None


def _compile(patterns: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    return _compile_tuple(tuple(patterns))


@functools.lru_cache(maxsize=128)
def _compile_tuple(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    # One detector per attempt: a model's patterns are compiled once, not once per call.
    return tuple(re.compile(pattern, re.IGNORECASE) for pattern in patterns)
