"""codex's output: the JSON lines of ``codex exec --json``, and the answer inside them.

`CodexJsonlDecoder` maps the lines onto events; `codex_message_text` reads the answer out of one
``item.completed`` agent-message object, for JSON mode to look inside. Everything this project
knows about codex's JSON lives here. Like every decoder it must never use trio, a process, a file
or a clock, and never raise on what the CLI prints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..events import ErrorNotice, Event, FinalResult, RetryNotice, TextDelta
from .lines import DEFAULT_MAX_LINE_BYTES, JsonLinesDecoder, as_dict, as_str

__all__ = ["CodexJsonlDecoder", "codex_message_text"]

_RECONNECTING = re.compile(r"^reconnecting\b", re.IGNORECASE)


def codex_message_text(record: Mapping[str, Any]) -> str | None:
    """The answer in an ``{"type": "item.completed", "item": {"type": "agent_message", "text":
    "..."}}`` object; None for any other object."""
    if record.get("type") != "item.completed":
        return None
    return _agent_message_text(as_dict(record.get("item")))


def _agent_message_text(item: Mapping[str, Any]) -> str | None:
    return as_str(item.get("text")) if item.get("type") == "agent_message" else None


class CodexJsonlDecoder(JsonLinesDecoder):
    """codex's ``codex exec --json`` output (codex 0.169).

    One JSON object per line, dispatched on its ``type``:

    - ``thread.started``: remembers ``thread_id`` as the session id (no event).
    - ``item.completed`` whose item is an ``agent_message``: `TextDelta` of its ``text`` (codex
      prints whole messages, not deltas; a message after an earlier one is preceded by a blank
      line). An ``error`` item (a warning such as unknown model metadata): `ErrorNotice`.
      Other items (reasoning, commands, file changes, tool calls) are ignored.
    - ``turn.completed``: `FinalResult` with the last agent message as its text and ``usage``.
    - ``turn.failed``: `FinalResult` with ``is_error`` and ``error.message`` as its text.
    - ``error``: `ErrorNotice`; a ``Reconnecting...`` error (codex retrying a dropped stream)
      also gives a `RetryNotice`. If the output ends after an ``error`` line without any
      ``turn.*`` result, `close` gives a `FinalResult` with ``is_error`` and the last error.
    - ``turn.started``, ``item.started``, ``item.updated`` and unknown types are ignored.
    - Plain text lines, blank lines and over-long lines: as `JsonLinesDecoder`.
    """

    def __init__(self, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        super().__init__(max_line_bytes=max_line_bytes)
        self._session_id: str | None = None
        self._last_message: str | None = None
        self._last_error: str | None = None
        self._finished = False

    def _on_record(self, record: dict[str, Any]) -> list[Event]:
        kind = record.get("type")
        if kind == "thread.started":
            self._session_id = as_str(record.get("thread_id")) or self._session_id
        elif kind == "item.completed":
            return self._on_item(as_dict(record.get("item")))
        elif kind in ("turn.completed", "turn.failed"):
            return [self._result(record, failed=kind == "turn.failed")]
        elif kind == "error":
            return self._on_error(as_str(record.get("message")) or json.dumps(record))
        return []

    def _on_item(self, item: dict[str, Any]) -> list[Event]:
        text = _agent_message_text(item)
        if text:
            separator = "\n\n" if self._last_message is not None else ""
            self._last_message = text
            return [TextDelta(separator + text)]
        if item.get("type") == "error":
            message = as_str(item.get("message"))
            return [ErrorNotice(message)] if message else []
        return []

    def _on_error(self, message: str) -> list[Event]:
        self._last_error = message
        events: list[Event] = [ErrorNotice(message)]
        if _RECONNECTING.match(message):
            events.append(RetryNotice(f"codex is retrying: {message}"))
        return events

    def _result(self, record: dict[str, Any], *, failed: bool) -> FinalResult:
        self._finished = True
        usage = record.get("usage")
        text = self._last_message
        if failed:
            error = record.get("error")
            text = as_str(as_dict(error).get("message")) or self._last_error or json.dumps(error)
        return FinalResult(
            text=text,
            is_error=failed,
            subtype="turn.failed" if failed else "turn.completed",
            usage=usage if isinstance(usage, dict) else None,
            session_id=self._session_id,
        )

    def _on_close(self) -> list[Event]:
        if self._finished or self._last_error is None:
            return []
        self._finished = True
        return [
            FinalResult(
                text=self._last_error,
                is_error=True,
                subtype="error",
                session_id=self._session_id,
            )
        ]
