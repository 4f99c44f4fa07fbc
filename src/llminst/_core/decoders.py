"""Output decoders: a CLI's stdout bytes in, `Event`s out, one decoder per `OutputFormat`.

This module owns everything about reading a CLI's output format: UTF-8 decoding of a stream split
anywhere, splitting it into lines with bounded memory, and mapping each format's records (plain
text, claude's and gemini's stream-json lines, codex's JSON lines) onto `TextDelta`, `FinalResult`,
`RetryNotice`, `ErrorNotice` and `Truncated`.

Decoders are sans-IO state machines in the manner of h11: the caller feeds bytes however they were
chunked and gets events back; the events do not depend on the chunking. This module must never
use trio or anyio, touch a process, a file or a clock, and must never raise on what a CLI prints:
output is either decoded or passed through as text, so no answer text is ever lost.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol

from .events import ErrorNotice, Event, FinalResult, RetryNotice, TextDelta, Truncated
from .spec import OutputFormat

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "ClaudeStreamJsonDecoder",
    "CodexJsonlDecoder",
    "Decoder",
    "GeminiStreamJsonDecoder",
    "TextDecoder",
    "make_decoder",
    "strip_terminal_codes",
]

# CSI and OSC escape sequences (colours, cursor moves, titles) some CLIs print even into a pipe.
_TERMINAL_CODES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\))")


def strip_terminal_codes(text: str) -> str:
    """`text` without terminal escape sequences (for error messages and excerpts)."""
    return _TERMINAL_CODES.sub("", text)


DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024
"""Longest line a line-based decoder keeps; longer lines are dropped and reported."""

# resetsAt is epoch seconds; a value this large can only be milliseconds (year > 5000).
_MILLISECONDS_THRESHOLD = 1e11


class Decoder(Protocol):
    """Turns one CLI's stdout into events; the bytes may be chunked anywhere."""

    def feed(self, data: bytes) -> list[Event]:
        """Decode the next chunk of output.

        Returns:
            The events this chunk completes, in order (often none).
        """
        ...

    def close(self) -> list[Event]:
        """Mark the end of output (feeding afterwards is not supported).

        Returns:
            The events for whatever was still buffered (an unterminated last line, a partial
            UTF-8 sequence, which becomes U+FFFD).
        """
        ...


def make_decoder(fmt: OutputFormat, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Decoder:
    """Build a fresh decoder for one call's stdout.

    Args:
        fmt: the CLI's output format.
        max_line_bytes: line-based formats drop longer lines (reported as `Truncated`).

    Returns:
        A new decoder; decoders hold per-call state, so never share one between calls.

    Raises:
        ValueError: no decoder exists for `fmt`, or `max_line_bytes` is not positive.
    """
    _check_max_line_bytes(max_line_bytes)
    factory = _FACTORIES.get(fmt)
    if factory is None:
        raise ValueError(f"no decoder for output format {fmt!r}")
    return factory(max_line_bytes)


def _check_max_line_bytes(max_line_bytes: int) -> None:
    if max_line_bytes < 1:
        raise ValueError(f"max_line_bytes must be at least 1, got {max_line_bytes}")


class TextDecoder:
    """Plain text: each chunk becomes one `TextDelta` of the complete characters it holds.

    A multi-byte character split across chunks is held back until it is complete; invalid UTF-8
    becomes U+FFFD and NUL bytes pass through. Nothing else is buffered: no line splitting, no
    newline translation. No empty `TextDelta` is ever emitted.
    """

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> list[Event]:
        return _text_events(self._utf8.decode(data))

    def close(self) -> list[Event]:
        return _text_events(self._utf8.decode(b"", final=True))


def _text_events(text: str) -> list[Event]:
    return [TextDelta(text)] if text else []


class _LineSplitter:
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
        _check_max_line_bytes(max_line_bytes)
        self._lines = _LineSplitter(max_line_bytes)
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
        record = _parse_object(text)
        if record is None:
            return [TextDelta(text + "\n")]
        handler = self._HANDLERS.get(_str(record.get("type")) or "")
        return handler(self, record) if handler is not None else []

    def _on_stream_event(self, record: dict[str, Any]) -> list[Event]:
        if _is_subagent(record):
            return []
        event = _dict(record.get("event"))
        if event.get("type") == "message_start":
            self._streaming_id = _str(_dict(event.get("message")).get("id"))
            return []
        delta = _dict(event.get("delta")) if event.get("type") == "content_block_delta" else {}
        text = _str(delta.get("text")) if delta.get("type") == "text_delta" else None
        if not text:
            return []
        self._streamed_since_assistant = True
        if self._streaming_id is not None:
            self._streamed_ids.add(self._streaming_id)
        return [TextDelta(text)]

    def _on_assistant(self, record: dict[str, Any]) -> list[Event]:
        if _is_subagent(record):
            return []
        message = _dict(record.get("message"))
        texts = _text_blocks(message.get("content"))
        if record.get("is_api_error_message") is True or _str(record.get("error")):
            return [ErrorNotice(text) for text in texts]
        self._assistant_texts.extend(texts)
        message_id = _str(message.get("id"))
        streamed = self._streamed_since_assistant or (
            message_id is not None and message_id in self._streamed_ids
        )
        self._streamed_since_assistant = False
        return [] if streamed else [TextDelta(text) for text in texts]

    def _on_result(self, record: dict[str, Any]) -> list[Event]:
        subtype = _str(record.get("subtype"))
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
                cost_usd=_number(record.get("total_cost_usd")),
                session_id=_str(record.get("session_id")),
            ),
        ]

    def _result_text(self, record: dict[str, Any], is_error: bool) -> str | None:
        result = _str(record.get("result"))
        if result:
            return result
        if is_error:
            return _joined_strings(record.get("errors")) or result
        return "".join(self._assistant_texts) or result

    def _on_system(self, record: dict[str, Any]) -> list[Event]:
        return [_api_retry_notice(record)] if record.get("subtype") == "api_retry" else []

    def _on_rate_limit_event(self, record: dict[str, Any]) -> list[Event]:
        return [_rate_limit_notice(_dict(record.get("rate_limit_info")))]

    _HANDLERS: ClassVar[Mapping[str, _Handler]] = {
        "stream_event": _on_stream_event,
        "assistant": _on_assistant,
        "result": _on_result,
        "system": _on_system,
        "rate_limit_event": _on_rate_limit_event,
    }


def _api_retry_notice(record: dict[str, Any]) -> RetryNotice:
    status = record.get("error_status")
    delay_ms = _number(record.get("retry_delay_ms"))
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
    status = _str(info.get("status")) or "unknown"
    limit_type = _str(info.get("rateLimitType"))
    reset_at = _number(info.get("resetsAt"))
    if reset_at is not None and reset_at > _MILLISECONDS_THRESHOLD:
        reset_at /= 1000
    kind = f" ({limit_type})" if limit_type else ""
    return RetryNotice(
        f"claude rate limit{kind}: {status}",
        reset_at=reset_at,
        rate_limited=status == "rejected",
    )


def _parse_object(text: str) -> dict[str, Any] | None:
    """The line as a JSON object, or None when it is anything else (plain text, a bare value)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _is_subagent(record: dict[str, Any]) -> bool:
    return record.get("parent_tool_use_id") is not None


def _text_blocks(content: object) -> list[str]:
    if not isinstance(content, list):
        return []
    texts: list[str] = []
    for block in map(_dict, content):
        text = _str(block.get("text")) if block.get("type") == "text" else None
        if text:
            texts.append(text)
    return texts


def _joined_strings(value: object) -> str | None:
    if not isinstance(value, list):
        return None
    return "\n".join(item for item in value if isinstance(item, str)) or None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: object) -> float | None:
    """A finite JSON number as a float; None for anything else (bools, strings, overflow)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


class _JsonLinesDecoder:
    """Shared plumbing of the JSON-lines formats: bounded lines, plain text passed through.

    Subclasses implement `_on_record` for one parsed JSON object and may override `_on_close`.
    A line that is not a JSON object becomes `TextDelta` of the line plus ``"\\n"``; blank lines
    are ignored and ``\\r\\n`` is accepted; an over-long line becomes one `Truncated`.
    """

    def __init__(self, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        _check_max_line_bytes(max_line_bytes)
        self._lines = _LineSplitter(max_line_bytes)

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
            record = _parse_object(text)
            events.extend([TextDelta(text + "\n")] if record is None else self._on_record(record))
        return events

    def _on_record(self, record: dict[str, Any]) -> list[Event]:
        raise NotImplementedError

    def _on_close(self) -> list[Event]:
        return []


class GeminiStreamJsonDecoder(_JsonLinesDecoder):
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
    - Plain text lines, blank lines and over-long lines: as `_JsonLinesDecoder`.
    """

    def __init__(self, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        super().__init__(max_line_bytes=max_line_bytes)
        self._session_id: str | None = None
        self._texts: list[str] = []

    def _on_record(self, record: dict[str, Any]) -> list[Event]:
        kind = record.get("type")
        if kind == "init":
            self._session_id = _str(record.get("session_id")) or self._session_id
        elif kind == "message" and record.get("role") == "assistant":
            text = _str(record.get("content"))
            if text:
                self._texts.append(text)
                return [TextDelta(text)]
        elif kind == "error":
            message = _str(record.get("message"))
            return [ErrorNotice(message)] if message else []
        elif kind == "result":
            return [self._result(record)]
        return []

    def _result(self, record: dict[str, Any]) -> FinalResult:
        status = _str(record.get("status"))
        stats = record.get("stats")
        error = record.get("error")
        is_error = status != "success" or error is not None
        text: str | None = "".join(self._texts)
        subtype = status
        if is_error:
            details = _dict(error)
            text = _str(details.get("message")) or (json.dumps(error) if error else text)
            subtype = _str(details.get("type")) or status or "error"
        return FinalResult(
            text=text,
            is_error=is_error,
            subtype=subtype,
            usage=stats if isinstance(stats, dict) else None,
            session_id=_str(record.get("session_id")) or self._session_id,
        )


_CODEX_RECONNECTING = re.compile(r"^reconnecting\b", re.IGNORECASE)


class CodexJsonlDecoder(_JsonLinesDecoder):
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
    - Plain text lines, blank lines and over-long lines: as `_JsonLinesDecoder`.
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
            self._session_id = _str(record.get("thread_id")) or self._session_id
        elif kind == "item.completed":
            return self._on_item(_dict(record.get("item")))
        elif kind in ("turn.completed", "turn.failed"):
            return [self._result(record, failed=kind == "turn.failed")]
        elif kind == "error":
            return self._on_error(_str(record.get("message")) or json.dumps(record))
        return []

    def _on_item(self, item: dict[str, Any]) -> list[Event]:
        kind = item.get("type")
        if kind == "agent_message":
            text = _str(item.get("text"))
            if not text:
                return []
            separator = "\n\n" if self._last_message is not None else ""
            self._last_message = text
            return [TextDelta(separator + text)]
        if kind == "error":
            message = _str(item.get("message"))
            return [ErrorNotice(message)] if message else []
        return []

    def _on_error(self, message: str) -> list[Event]:
        self._last_error = message
        events: list[Event] = [ErrorNotice(message)]
        if _CODEX_RECONNECTING.match(message):
            events.append(RetryNotice(f"codex is retrying: {message}"))
        return events

    def _result(self, record: dict[str, Any], *, failed: bool) -> FinalResult:
        self._finished = True
        usage = record.get("usage")
        text = self._last_message
        if failed:
            error = record.get("error")
            text = _str(_dict(error).get("message")) or self._last_error or json.dumps(error)
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


_FACTORIES: Mapping[OutputFormat, Callable[[int], Decoder]] = {
    OutputFormat.TEXT: lambda _max_line_bytes: TextDecoder(),
    OutputFormat.CLAUDE_STREAM_JSON: lambda max_line_bytes: ClaudeStreamJsonDecoder(
        max_line_bytes=max_line_bytes
    ),
    OutputFormat.GEMINI_STREAM_JSON: lambda max_line_bytes: GeminiStreamJsonDecoder(
        max_line_bytes=max_line_bytes
    ),
    OutputFormat.CODEX_JSONL: lambda max_line_bytes: CodexJsonlDecoder(
        max_line_bytes=max_line_bytes
    ),
}
