"""Output decoders: a CLI's stdout bytes in, `Event`s out, one module per `OutputFormat`.

This package owns everything about reading a CLI's output format: UTF-8 decoding of a stream split
anywhere, splitting it into lines with bounded memory (`lines`), and mapping each format's records
onto `TextDelta`, `FinalResult`, `RetryNotice`, `ErrorNotice` and `Truncated`: plain text (`text`),
claude's and gemini's stream-json lines (`claude`, `gemini`) and codex's JSON lines (`codex`). Each
format module also reads the answer out of that CLI's JSON objects; `answer_in_wrapper` asks them
all, for JSON mode.

Decoders are sans-IO state machines in the manner of h11: the caller feeds bytes however they were
chunked and gets events back; the events do not depend on the chunking. This package must never
use trio or anyio, touch a process, a file or a clock, and must never raise on what a CLI prints:
output is either decoded or passed through as text, so no answer text is ever lost.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

from ..events import Event
from ..spec import OutputFormat
from .claude import ClaudeStreamJsonDecoder, claude_assistant_text, claude_result_text
from .codex import CodexJsonlDecoder, codex_message_text
from .gemini import GeminiStreamJsonDecoder, gemini_response_text
from .lines import DEFAULT_MAX_LINE_BYTES, check_max_line_bytes
from .text import TextDecoder

__all__ = [
    "ANSWER_READERS",
    "DEFAULT_MAX_LINE_BYTES",
    "ClaudeStreamJsonDecoder",
    "CodexJsonlDecoder",
    "Decoder",
    "GeminiStreamJsonDecoder",
    "TextDecoder",
    "answer_in_wrapper",
    "make_decoder",
    "strip_terminal_codes",
]

# CSI and OSC escape sequences (colours, cursor moves, titles) some CLIs print even into a pipe.
_TERMINAL_CODES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\))")


def strip_terminal_codes(text: str) -> str:
    """`text` without terminal escape sequences (for error messages and excerpts)."""
    return _TERMINAL_CODES.sub("", text)


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
    check_max_line_bytes(max_line_bytes)
    factory = _FACTORIES.get(fmt)
    if factory is None:
        raise ValueError(f"no decoder for output format {fmt!r}")
    return factory(max_line_bytes)


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

ANSWER_READERS: Final[tuple[Callable[[Mapping[str, Any]], str | None], ...]] = (
    claude_result_text,
    gemini_response_text,
    codex_message_text,
    claude_assistant_text,
)
"""Each CLI format's reader of the answer inside one of its JSON objects, in the order they are
asked: a final result before a response field before a message."""


def answer_in_wrapper(value: Any) -> str | None:
    """The answer text a CLI wrapped in the JSON object `value` (claude's ``result``, gemini's
    ``response``, a codex agent message, a claude assistant message), as the first reader in
    `ANSWER_READERS` finds it; None when `value` is not such an object."""
    if not isinstance(value, dict):
        return None
    for read in ANSWER_READERS:
        answer = read(value)
        if answer is not None:
            return answer
    return None
