"""Progress: a running call's text sent to the client as progress notifications.

The trio loop around `_core.coalesce.ProgressCoalescer`, which decides what goes out and when:
this module waits for the next event or the coalescer's deadline, whichever comes first, and
sends what it is told to, numbering the notifications (the MCP `progress` value must increase
with each one). `progress_requested` says whether anyone receives them at all. It only reads
the call's events and reports progress; it never starts, ends or retries a call.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable

import trio
from mcp.server.mcpserver import Context
from mcp.shared.direct_dispatcher import DIRECT_TRANSPORT_KIND

from .._core.coalesce import Notice, ProgressCoalescer
from .._core.events import RetryNotice, TextDelta
from ..supervisor import FallbackStarted, RetryScheduled

__all__ = ["ReportProgress", "forward_progress", "progress_requested"]

ReportProgress = Callable[[float, float | None, str | None], Awaitable[None]]
"""Sends one progress notification: ``(progress, total, message)``, as `Context.report_progress`."""

_TIMER = object()


def progress_requested(ctx: Context) -> bool:
    """Whether this request's progress notifications reach anyone.

    A client asks for them by sending a progress token in the request's ``_meta`` (MCP's
    rule); without one the SDK drops every notification, so a call need not stream. The SDK's
    in-process client hands its progress callback over without a token: a request that did
    not come through a JSON-RPC transport is taken to listen.
    """
    context = ctx.request_context
    if context.meta is not None and context.meta.get("progress_token") is not None:
        return True
    # No public accessor in mcp 2.3 for the transport a request came through.
    outbound = getattr(context.session, "_request_outbound", None)
    kind = getattr(getattr(outbound, "transport", None), "kind", DIRECT_TRANSPORT_KIND)
    return bool(kind == DIRECT_TRANSPORT_KIND)


async def forward_progress(
    events: AsyncIterable[object],
    report: ReportProgress,
    *,
    coalesce_s: float,
    coalesce_bytes: int,
    keepalive_s: float,
) -> None:
    """Send the text in `events` (a call's `CallStream.events()`) as progress notifications
    until they end: ordered, coalesced, with keepalives while the CLI is silent.

    Each notification's `message` is a piece of text, or None for a keepalive or a retry, so
    the messages that are not None concatenate to exactly the streamed text.

    Cancellation: cancelling the caller stops forwarding; text still pending is not sent.
    """
    coalescer = ProgressCoalescer(
        coalesce_s=coalesce_s,
        coalesce_bytes=coalesce_bytes,
        keepalive_s=keepalive_s,
        started_at=trio.current_time(),
    )
    numbers = itertools.count(1)

    async def send(notices: Iterable[Notice]) -> None:
        for notice in notices:
            await report(next(numbers), None, notice)
            coalescer.sent(notice, trio.current_time())

    iterator = aiter(events)
    while True:
        event: object = _TIMER
        # Only the receive may be cut short by the timer (a memory channel loses nothing
        # when cancelled); a send cut short would lose that notification.
        with trio.move_on_at(coalescer.next_deadline()):
            try:
                event = await anext(iterator)
            except StopAsyncIteration:
                break
        await send(_decide(coalescer, event))
    await send(coalescer.finish())


def _decide(coalescer: ProgressCoalescer, event: object) -> list[Notice]:
    if event is _TIMER:
        return coalescer.timer(trio.current_time())
    if isinstance(event, TextDelta):
        return coalescer.text(event.text, trio.current_time())
    if isinstance(event, RetryScheduled | RetryNotice | FallbackStarted):
        # llminst's retry or move to a fallback model, or the CLI's own retry (claude's
        # api_retry lines): the text starts over.
        return coalescer.retry()
    return []
