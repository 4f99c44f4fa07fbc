"""Plain-text output (the ``text`` format: echo, the openai CLI, llm, ollama): bytes in, text out.

The only state is an incremental UTF-8 decoder, so a character split across chunks is never
mangled. This module must never split lines, translate newlines or interpret what the CLI prints:
plain output is the answer as is. No I/O, like every decoder.
"""

from __future__ import annotations

import codecs

from ..events import Event, TextDelta

__all__ = ["TextDecoder"]


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
