"""Shared plumbing of the line-based output formats: bounded lines, JSON lines, field readers.

`LineSplitter` cuts a byte stream into lines with bounded memory; `JsonLinesDecoder` turns each line
into a JSON object for a format's `_on_record`, passing anything else through as text. The small
readers (`as_dict`, `as_str`, `as_number`, `parse_object`) take what a CLI printed at face value and
never raise on it. This module must never know a particular CLI's records (those live in one
module per format) and, like every decoder, never uses trio, a process, a file or a clock.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..events import Event, TextDelta, Truncated

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "JsonLinesDecoder",
    "LineSplitter",
    "as_dict",
    "as_number",
    "as_str",
    "check_max_line_bytes",
    "parse_object",
]

DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024
"""Longest line a line-based decoder keeps; longer lines are dropped and reported."""


def check_max_line_bytes(max_line_bytes: int) -> None:
    """Raises ValueError unless `max_line_bytes` is at least 1."""
    if max_line_bytes < 1:
        raise ValueError(f"max_line_bytes must be at least 1, got {max_line_bytes}")


class LineSplitter:
    """Splits a byte stream into lines (without the b"\\n"), dropping over-long ones.

    Only the current incomplete line is buffered, as pieces joined once when it ends, and only new
    data is searched for newlines: a line arriving in many chunks costs O(its length). A line longer
    than `max_line_bytes` is not kept; its bytes are counted until its newline (or the end of the
    stream) and it comes out as one `Truncated` in its place.
    """

    def __init__(self, max_line_bytes: int) -> None:
        self._max = max_line_bytes
        self._pieces: list[bytes] = []
        self._size = 0
        self._dropping = False

    def feed(self, data: bytes) -> list[bytes | Truncated]:
        *complete, rest = data.split(b"\n")
        lines: list[bytes | Truncated] = []
        for piece in complete:
            self._add(piece)
            lines.append(self._end_line())
        self._add(rest)
        return lines

    def close(self) -> list[bytes | Truncated]:
        return [self._end_line()] if self._size else []

    def _add(self, piece: bytes) -> None:
        self._size += len(piece)
        if self._dropping:
            return
        if self._size > self._max:
            self._dropping = True
            self._pieces.clear()
        elif piece:
            self._pieces.append(piece)

    def _end_line(self) -> bytes | Truncated:
        size, self._size = self._size, 0
        if self._dropping:
            self._dropping = False
            return Truncated(size, f"dropped a {size}-byte line (max_line_bytes={self._max})")
        line = b"".join(self._pieces)
        self._pieces.clear()
        return line


class JsonLinesDecoder:
    """Shared plumbing of the JSON-lines formats: bounded lines, plain text passed through.

    Subclasses implement `_on_record` for one parsed JSON object and may override `_on_close`.
    A line that is not a JSON object becomes `TextDelta` of the line plus ``"\\n"``; blank lines
    are ignored and ``\\r\\n`` is accepted; an over-long line becomes one `Truncated`.
    """

    def __init__(self, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        check_max_line_bytes(max_line_bytes)
        self._lines = LineSplitter(max_line_bytes)

    def feed(self, data: bytes) -> list[Event]:
        return self._decode(self._lines.feed(data))

    def close(self) -> list[Event]:
        return self._decode(self._lines.close()) + self._on_close()

    def _decode(self, lines: list[bytes | Truncated]) -> list[Event]:
        events: list[Event] = []
        for line in lines:
            if isinstance(line, Truncated):
                events.append(line)
                continue
            text = line.decode("utf-8", errors="replace").removesuffix("\r")
            if not text.strip():
                continue
            record = parse_object(text)
            events.extend([TextDelta(text + "\n")] if record is None else self._on_record(record))
        return events

    def _on_record(self, record: dict[str, Any]) -> list[Event]:
        raise NotImplementedError

    def _on_close(self) -> list[Event]:
        return []


def parse_object(text: str) -> dict[str, Any] | None:
    """The line as a JSON object, or None when it is anything else (plain text, a bare value)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def as_dict(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_str(value: object) -> str | None:
    """`value` if it is a string, else None."""
    return value if isinstance(value, str) else None


def as_number(value: object) -> float | None:
    """A finite JSON number as a float; None for anything else (bools, strings, overflow)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
