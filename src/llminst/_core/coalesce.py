"""Progress coalescing: when a call's streamed text goes out, and when a keepalive is due.

Sans-IO: a `ProgressCoalescer` is told what happened (text arrived, a retry, the timer fired,
the stream ended) and when, and answers with the notifications to send now, in order; it also
says when it next wants to be woken (`next_deadline`). Each notification is a `Notice`: a piece
of text, or None for a keepalive or status notice, so the text notices concatenate to exactly
the streamed text. The caller sends them and reports back when each send completed (`sent`).

The rules: text goes out at once when no text was sent for `coalesce_s` (a slow stream pays no
added latency); during a burst, what arrives is batched into one notice per `coalesce_s`, or
sooner once `coalesce_bytes` (UTF-8 bytes) are pending; a retry sends what is pending and then a
notice without text; after `keepalive_s` without any notice, a keepalive goes out. Times are
measured from the end of a send, so a slow client does not make every chunk look like the
first after a quiet spell.

Pure: it never reads a clock, sleeps or sends; every time is passed in.
"""

from __future__ import annotations

import math

__all__ = ["Notice", "ProgressCoalescer", "utf8_size"]

Notice = str | None
"""One progress notification's message: text, or None for a keepalive or status notice."""


def utf8_size(text: str) -> int:
    """The size of `text` in UTF-8 bytes (without encoding it when it is ASCII)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class ProgressCoalescer:
    """Decides which progress notifications go out, and when (see the module docstring).

    Args:
        coalesce_s: during a burst, at most one text notice per this many seconds.
        coalesce_bytes: a text notice goes out sooner once this many UTF-8 bytes are pending.
        keepalive_s: a notice (a keepalive if there is no text) at least this often.
        started_at: the time the call started (the keepalive clock starts there).
    """

    def __init__(
        self, *, coalesce_s: float, coalesce_bytes: int, keepalive_s: float, started_at: float
    ) -> None:
        self.coalesce_s = coalesce_s
        self.coalesce_bytes = coalesce_bytes
        self.keepalive_s = keepalive_s
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._last_sent_at = started_at
        self._last_text_at = -math.inf

    @property
    def pending_bytes(self) -> int:
        """UTF-8 bytes of text received and not sent yet."""
        return self._pending_bytes

    def next_deadline(self) -> float:
        """When the caller should call `timer` if nothing else happens first."""
        keepalive = self._last_sent_at + self.keepalive_s
        if not self._pending:
            return keepalive
        return min(keepalive, self._last_text_at + self.coalesce_s)

    def text(self, text: str, now: float) -> list[Notice]:
        """Text arrived at `now`: send it at once after a quiet spell or once enough is
        pending, else hold it until `next_deadline`."""
        self._pending.append(text)
        self._pending_bytes += utf8_size(text)
        quiet = now - self._last_text_at >= self.coalesce_s
        if quiet or self._pending_bytes >= self.coalesce_bytes:
            return self._take()
        return []

    def retry(self) -> list[Notice]:
        """A retry was scheduled (llminst's, or the CLI's own): what is pending, then a
        notice without text, so the client sees the call is alive and the text stays exact."""
        return [*self._take(), None]

    def timer(self, now: float) -> list[Notice]:
        """The deadline the caller was given has come: the pending text, or a keepalive."""
        if now < self.next_deadline():
            return []
        if self._pending:
            return self._take()
        return [None]

    def finish(self) -> list[Notice]:
        """The stream ended: what is still pending."""
        return self._take()

    def sent(self, notice: Notice, now: float) -> None:
        """The caller finished sending `notice` at `now`."""
        self._last_sent_at = now
        if notice is not None:
            self._last_text_at = now

    def _take(self) -> list[Notice]:
        if not self._pending:
            return []
        text = "".join(self._pending)
        self._pending = []
        self._pending_bytes = 0
        return [text]
