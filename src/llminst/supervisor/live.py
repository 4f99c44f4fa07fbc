"""Live calls: which calls of this supervisor run now, and a way to wait until one has news.

`LiveCalls` is a `CallWatcher`. It counts the characters each running call has produced (the
current attempt's: a retry starts over) and wakes whoever waits on the call when text arrives
or the call ends, so a long-poll (`get_llm_result`) answers as soon as there is something new
instead of on a timer. It keeps no text: the text is read from the call store, which the
recorder (told first) has been given by then.

What it must never do: wait or raise in a watcher method, or keep a call after it ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import trio
from attrs import define

from .._core.events import TextDelta
from .stream import AttemptStarted, StreamEvent

if TYPE_CHECKING:
    from .call import Call

__all__ = ["LiveCalls"]


@define(eq=False)
class _Live:
    call: Call
    chars: int = 0
    attempt: int = 1
    news: trio.Event = attrs.Factory(trio.Event)

    def changed(self) -> None:
        self.news.set()
        self.news = trio.Event()


class LiveCalls:
    """The calls running (or queued) now, by id, with their output's length so far."""

    def __init__(self) -> None:
        self._calls: dict[str, _Live] = {}

    def get(self, call_id: str) -> Call | None:
        """The running call of that id, or None (ended, or never here)."""
        live = self._calls.get(call_id)
        return None if live is None else live.call

    async def wait_for_news(self, call_id: str, offset: int) -> None:
        """Return once the call has more than `offset` characters of output, starts over (a
        new attempt), or has ended; at once if it already has, or is not running here.

        Cancellation: safe at any point (the caller's deadline ends a long-poll).
        """
        live = self._calls.get(call_id)
        attempt = None if live is None else live.attempt
        while live is not None and live.chars <= offset and live.attempt == attempt:
            await live.news.wait()
            live = self._calls.get(call_id)

    # -- CallWatcher ----------------------------------------------------------------------

    def call_started(self, call: Call) -> None:
        self._calls[call.id] = _Live(call)

    def call_event(self, call: Call, event: StreamEvent) -> None:
        live = self._calls.get(call.id)
        if live is None:
            return
        if isinstance(event, TextDelta) and event.text:
            live.chars += len(event.text)
            live.changed()
        elif isinstance(event, AttemptStarted) and event.attempt > 1:
            live.chars = 0
            live.attempt = event.attempt
            live.changed()

    def call_finished(self, call: Call) -> None:
        live = self._calls.pop(call.id, None)
        if live is not None:
            live.changed()
