"""gemini's output: the ``-o stream-json`` lines of gemini-cli, and the answer inside its JSON.

`GeminiStreamJsonDecoder` maps the lines onto events; `gemini_response_text` reads the answer out
of the one object ``-o json`` prints, for JSON mode to look inside. Everything this project knows
about gemini's JSON lives here. Like every decoder it must never use trio, a process, a file or a
clock, and never raise on what the CLI prints.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..events import ErrorNotice, Event, FinalResult, TextDelta
from .lines import DEFAULT_MAX_LINE_BYTES, JsonLinesDecoder, as_dict, as_str

__all__ = ["GeminiStreamJsonDecoder", "gemini_response_text"]


def gemini_response_text(record: Mapping[str, Any]) -> str | None:
    """The answer in gemini's ``-o json`` object (``{"session_id", "response", "stats"}``): any
    object whose ``response`` is a string; None otherwise."""
    return as_str(record.get("response"))


class GeminiStreamJsonDecoder(JsonLinesDecoder):
    """gemini's ``-p ... -o stream-json`` output (gemini-cli 0.61).

    One JSON object per line, dispatched on its ``type``:

    - ``init``: remembers ``session_id`` (no event).
    - ``message`` with ``role: "assistant"``: `TextDelta` of ``content`` (the CLI sends
      ``delta: true`` pieces); ``user`` messages (the prompt echoed back) are ignored.
    - ``error`` (a non-fatal warning or error the CLI reports mid-run): `ErrorNotice`.
    - ``result``: `FinalResult`. ``status: "success"``: the text is every assistant piece joined;
      ``status: "error"``: ``is_error``, the text is ``error.message`` and the subtype
      ``error.type``. ``usage`` is the ``stats`` object (``input_tokens``, ``output_tokens``,
      ``total_tokens``, ``cached``, ``duration_ms``, per-model ``models``).
    - ``tool_use``, ``tool_result`` and unknown types are ignored.
    - Plain text lines, blank lines and over-long lines: as `JsonLinesDecoder`.
    """

    def __init__(self, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        super().__init__(max_line_bytes=max_line_bytes)
        self._session_id: str | None = None
        self._texts: list[str] = []

    def _on_record(self, record: dict[str, Any]) -> list[Event]:
        kind = record.get("type")
        if kind == "init":
            self._session_id = as_str(record.get("session_id")) or self._session_id
        elif kind == "message" and record.get("role") == "assistant":
            text = as_str(record.get("content"))
            if text:
                self._texts.append(text)
                return [TextDelta(text)]
        elif kind == "error":
            message = as_str(record.get("message"))
            return [ErrorNotice(message)] if message else []
        elif kind == "result":
            return [self._result(record)]
        return []

    def _result(self, record: dict[str, Any]) -> FinalResult:
        status = as_str(record.get("status"))
        stats = record.get("stats")
        error = record.get("error")
        is_error = status != "success" or error is not None
        text: str | None = "".join(self._texts)
        subtype = status
        if is_error:
            details = as_dict(error)
            text = as_str(details.get("message")) or (json.dumps(error) if error else text)
            subtype = as_str(details.get("type")) or status or "error"
        return FinalResult(
            text=text,
            is_error=is_error,
            subtype=subtype,
            usage=stats if isinstance(stats, dict) else None,
            session_id=as_str(record.get("session_id")) or self._session_id,
        )
