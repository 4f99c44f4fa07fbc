"""Progress: a running call's text sent to the client as progress notifications.

Ordered, rate limited, with keepalives while the CLI is silent. It only reads the call's events
and reports progress; it never starts, ends or retries a call.
"""

from __future__ import annotations

import math

import trio
from attrs import Factory, define
from mcp.server.mcpserver import Context

from .._core.events import RetryNotice, TextDelta
from ..supervisor import CallStream, RetryScheduled

__all__ = ["ProgressForwarder"]

_TIMER = object()


@define
class ProgressForwarder:
    """Sends a call's text as progress notifications: ordered, rate limited, with keepalives.

    Text goes out at once when nothing was sent for `coalesce_s` (a slow stream pays no added
    latency); during a burst, what arrives is batched into one notification per `coalesce_s`,
    or sooner once `coalesce_bytes` are pending. `progress` counts notifications (it must
    increase with each one); `message` carries the text, or None for a keepalive or status
    notice, so concatenating the non-None messages gives the streamed text exactly.
    """

    ctx: Context
    coalesce_s: float
    coalesce_bytes: int
    keepalive_s: float
    sent: int = 0
    pending: list[str] = Factory(list)
    pending_bytes: int = 0
    last_sent_at: float = -math.inf
    last_text_at: float = -math.inf

    async def run(self, stream: CallStream) -> None:
        self.last_sent_at = trio.current_time()
        events = stream.events().__aiter__()
        while True:
            event: object = _TIMER
            # Only the receive may be cut short by the timer (a memory channel loses nothing
            # when cancelled); a send cut short would lose that notification.
            with trio.move_on_at(self._next_deadline()):
                try:
                    event = await events.__anext__()
                except StopAsyncIteration:
                    break
            if event is _TIMER:
                await self._on_timer()
            else:
                await self._on_event(event)
        await self._flush()

    def _next_deadline(self) -> float:
        keepalive = self.last_sent_at + self.keepalive_s
        if not self.pending:
            return keepalive
        return min(keepalive, self.last_text_at + self.coalesce_s)

    async def _on_event(self, event: object) -> None:
        if isinstance(event, TextDelta):
            self.pending.append(event.text)
            self.pending_bytes += len(event.text)
            quiet = trio.current_time() - self.last_text_at >= self.coalesce_s
            if quiet or self.pending_bytes >= self.coalesce_bytes:
                await self._flush()
        elif isinstance(event, RetryScheduled | RetryNotice):
            # A retry (llminst's, or the CLI's own: claude's api_retry lines) shows as a
            # notification without text: the client sees the call is alive, the text stays exact.
            await self._flush()
            await self._send(None)

    async def _on_timer(self) -> None:
        if self.pending:
            await self._flush()
        else:
            await self._send(None)  # keepalive: the CLI is silent, the call is alive

    async def _flush(self) -> None:
        if not self.pending:
            return
        text = "".join(self.pending)
        self.pending = []
        self.pending_bytes = 0
        await self._send(text)
        # Measured from the end of the send: a slow client must not make every chunk look
        # like the first after a quiet spell.
        self.last_text_at = trio.current_time()

    async def _send(self, message: str | None) -> None:
        self.sent += 1
        await self.ctx.report_progress(self.sent, None, message)
        self.last_sent_at = trio.current_time()
