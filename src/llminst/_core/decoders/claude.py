"""claude's output: the ``stream-json`` lines of ``claude -p``, and the answer inside its JSON.

`ClaudeStreamJsonDecoder` maps the lines onto events (text deltas, whole assistant messages, the
result, API retries and rate-limit events); `claude_result_text` and `claude_assistant_text` read
the answer out of one ``result`` or ``assistant`` object, for JSON mode to look inside. Everything
this project knows about claude's JSON lives here. Like every decoder it must never use trio, a
process, a file or a clock, and never raise on what the CLI prints.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from ..events import ErrorNotice, Event, FinalResult, RetryNotice, TextDelta, Truncated
from .lines import (
    DEFAULT_MAX_LINE_BYTES,
    LineSplitter,
    as_dict,
    as_number,
    as_str,
    check_max_line_bytes,
    parse_object,
)

__all__ = ["ClaudeStreamJsonDecoder", "claude_assistant_text", "claude_result_text"]

# resetsAt is epoch seconds; a value this large can only be milliseconds (year > 5000).
_MILLISECONDS_THRESHOLD = 1e11


def claude_result_text(record: Mapping[str, Any]) -> str | None:
    """The answer in a ``{"type": "result", "result": "..."}`` object (the last stream-json line,
    and all that ``--output-format json`` prints); None for any other object."""
    return as_str(record.get("result")) if record.get("type") == "result" else None


def claude_assistant_text(record: Mapping[str, Any]) -> str | None:
    """The text blocks of an ``{"type": "assistant", "message": {...}}`` object, joined; None for
    any other object or a message without text blocks."""
    message = record.get("message")
    if record.get("type") != "assistant" or not isinstance(message, dict):
        return None
    parts = _text_parts(message.get("content"))
    return "".join(parts) if parts else None


_Handler = Callable[["ClaudeStreamJsonDecoder", dict[str, Any]], list[Event]]


class ClaudeStreamJsonDecoder:
    """claude's ``-p --output-format stream-json --verbose [--include-partial-messages]`` output.

    One JSON object per line, dispatched on its ``type``:

    - ``stream_event`` whose event is a ``content_block_delta`` with a ``text_delta``:
      `TextDelta` (only with ``--include-partial-messages``).
    - ``assistant``: a `TextDelta` per text block, unless that message's text already streamed
      as deltas (same ``message.id`` as a streamed ``message_start``, or any text delta since the
      previous ``assistant`` line), so the text is never duplicated. A message the CLI made up
      to report an API failure (``is_api_error_message: true`` or an ``error`` field, as for
      "Not logged in" or "Prompt is too long") gives an `ErrorNotice` per text block instead:
      it is not part of the answer.
    - ``result``: `FinalResult`. An empty or missing ``result`` is rebuilt from every assistant
      text block seen (a known CLI bug); an error result without text uses its ``errors`` list.
      ``is_error`` is true when the CLI says so or the subtype starts with ``error`` (claude
      2.1 reports API failures and "Not logged in" as ``subtype: success, is_error: true``).
      An ``api_error_status`` of 429 also gives a `RetryNotice` (``rate_limited``) first.
    - ``system`` with subtype ``api_retry``: `RetryNotice` (``delay_s`` from ``retry_delay_ms``,
      ``rate_limited`` when ``error_status`` is 429).
    - ``rate_limit_event``: `RetryNotice` (``reset_at`` from ``resetsAt`` in epoch seconds,
      ``rate_limited`` only when ``status`` is ``rejected``; ``allowed`` and ``allowed_warning``
      are informational and arrive on ordinary runs).
    - Lines of sub-agents (``parent_tool_use_id`` set), ``user``, other ``system`` lines and
      unknown types are ignored.
    - A line that is not a JSON object (the CLI printing plain text such as ``Not logged in``):
      `TextDelta` of the line plus ``"\\n"``. Blank lines are ignored; ``\\r\\n`` is accepted.
    - A line over `max_line_bytes`: one `Truncated` in its place.
    """

    def __init__(self, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        check_max_line_bytes(max_line_bytes)
        self._lines = LineSplitter(max_line_bytes)
        self._streaming_id: str | None = None
        self._streamed_ids: set[str] = set()
        self._streamed_since_assistant = False
        self._assistant_texts: list[str] = []

    def feed(self, data: bytes) -> list[Event]:
        return self._decode(self._lines.feed(data))

    def close(self) -> list[Event]:
        return self._decode(self._lines.close())

    def _decode(self, lines: list[bytes | Truncated]) -> list[Event]:
        events: list[Event] = []
        for line in lines:
            events.extend([line] if isinstance(line, Truncated) else self._decode_line(line))
        return events

    def _decode_line(self, raw: bytes) -> list[Event]:
        text = raw.decode("utf-8", errors="replace").removesuffix("\r")
        if not text.strip():
            return []
        record = parse_object(text)
        if record is None:
            return [TextDelta(text + "\n")]
        handler = self._HANDLERS.get(as_str(record.get("type")) or "")
        return handler(self, record) if handler is not None else []

    def _on_stream_event(self, record: dict[str, Any]) -> list[Event]:
        if _is_subagent(record):
            return []
        event = as_dict(record.get("event"))
        if event.get("type") == "message_start":
            self._streaming_id = as_str(as_dict(event.get("message")).get("id"))
            return []
        delta = as_dict(event.get("delta")) if event.get("type") == "content_block_delta" else {}
        text = as_str(delta.get("text")) if delta.get("type") == "text_delta" else None
        if not text:
            return []
        self._streamed_since_assistant = True
        if self._streaming_id is not None:
            self._streamed_ids.add(self._streaming_id)
        return [TextDelta(text)]

    def _on_assistant(self, record: dict[str, Any]) -> list[Event]:
        if _is_subagent(record):
            return []
        message = as_dict(record.get("message"))
        texts = [text for text in _text_parts(message.get("content")) if text]
        if record.get("is_api_error_message") is True or as_str(record.get("error")):
            return [ErrorNotice(text) for text in texts]
        self._assistant_texts.extend(texts)
        message_id = as_str(message.get("id"))
        streamed = self._streamed_since_assistant or (
            message_id is not None and message_id in self._streamed_ids
        )
        self._streamed_since_assistant = False
        return [] if streamed else [TextDelta(text) for text in texts]

    def _on_result(self, record: dict[str, Any]) -> list[Event]:
        subtype = as_str(record.get("subtype"))
        is_error = record.get("is_error") is True or (subtype or "").startswith("error")
        usage = record.get("usage")
        status = record.get("api_error_status")
        notices: list[Event] = []
        if is_error and str(status) == "429":
            notices.append(
                RetryNotice("claude gave up on an API rate limit (status 429)", rate_limited=True)
            )
        return [
            *notices,
            FinalResult(
                text=self._result_text(record, is_error),
                is_error=is_error,
                subtype=subtype,
                usage=usage if isinstance(usage, dict) else None,
                cost_usd=as_number(record.get("total_cost_usd")),
                session_id=as_str(record.get("session_id")),
            ),
        ]

    def _result_text(self, record: dict[str, Any], is_error: bool) -> str | None:
        result = claude_result_text(record)
        if result:
            return result
        if is_error:
            return _joined_strings(record.get("errors")) or result
        return "".join(self._assistant_texts) or result

    def _on_system(self, record: dict[str, Any]) -> list[Event]:
        return [_api_retry_notice(record)] if record.get("subtype") == "api_retry" else []

    def _on_rate_limit_event(self, record: dict[str, Any]) -> list[Event]:
        return [_rate_limit_notice(as_dict(record.get("rate_limit_info")))]

    _HANDLERS: ClassVar[Mapping[str, _Handler]] = {
        "stream_event": _on_stream_event,
        "assistant": _on_assistant,
        "result": _on_result,
        "system": _on_system,
        "rate_limit_event": _on_rate_limit_event,
    }


def _api_retry_notice(record: dict[str, Any]) -> RetryNotice:
    status = record.get("error_status")
    delay_ms = as_number(record.get("retry_delay_ms"))
    error = record.get("error")
    detail = f": {error if isinstance(error, str) else json.dumps(error)}" if error else ""
    message = (
        f"claude is retrying an API error (status {status}, attempt "
        f"{record.get('attempt')} of {record.get('max_retries')}){detail}"
    )
    return RetryNotice(
        message,
        delay_s=None if delay_ms is None else delay_ms / 1000,
        rate_limited=str(status) == "429",
    )


def _rate_limit_notice(info: dict[str, Any]) -> RetryNotice:
    status = as_str(info.get("status")) or "unknown"
    limit_type = as_str(info.get("rateLimitType"))
    reset_at = as_number(info.get("resetsAt"))
    if reset_at is not None and reset_at > _MILLISECONDS_THRESHOLD:
        reset_at /= 1000
    kind = f" ({limit_type})" if limit_type else ""
    return RetryNotice(
        f"claude rate limit{kind}: {status}",
        reset_at=reset_at,
        rate_limited=status == "rejected",
    )


def _is_subagent(record: dict[str, Any]) -> bool:
    return record.get("parent_tool_use_id") is not None


def _text_parts(content: object) -> list[str]:
    """The strings of a message's ``text`` blocks, in order (empty ones too)."""
    if not isinstance(content, list):
        return []
    parts: list[str] = []
    for block in map(as_dict, content):
        text = as_str(block.get("text")) if block.get("type") == "text" else None
        if text is not None:
            parts.append(text)
    return parts


def _joined_strings(value: object) -> str | None:
    if not isinstance(value, list):
        return None
    return "\n".join(item for item in value if isinstance(item, str)) or None
