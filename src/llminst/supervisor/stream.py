"""A running call as its caller sees it: `CallStream` and the events it yields.

`Supervisor.open_stream` hands out a `CallStream`: iterate it for the answer text as the CLI
writes it, or `events()` for text interleaved with `AttemptStarted`, the CLI's `RetryNotice`s
and `RetryScheduled`; `wait()` then gives the `CallResult` or raises the call's `LLMError`.

What it must never do: start, signal or wait for a process (the call's task in the
supervisor's nursery does), or end a call (leaving `open_stream`'s block does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

import trio
from attrs import frozen

from .._core.errors import LLMError
from .._core.events import RetryNotice, TextDelta
from .._core.result import CallResult
from .._core.timeouts import TimeoutChoice

if TYPE_CHECKING:
    from .call import Call

__all__ = ["AttemptStarted", "CallStream", "FallbackStarted", "RetryScheduled", "StreamEvent"]

_T = TypeVar("_T")


@frozen
class AttemptStarted:
    """A process was started for attempt number `attempt`."""

    attempt: int
    pid: int


@frozen
class RetryScheduled:
    """The last attempt was rate limited; the next starts after `delay_s`."""

    attempt: int
    delay_s: float
    reason: str
    reset_at: float | None


@frozen
class FallbackStarted:
    """The call moved on to `model`, its next fallback, because `passed_over` failed with
    `reason` (an error kind); its text starts over with the next `AttemptStarted`."""

    model: str
    passed_over: str
    reason: str


StreamEvent = TextDelta | RetryNotice | AttemptStarted | RetryScheduled | FallbackStarted
"""What `CallStream.events()` yields: text, the CLI's own retry notices, attempts, retries and
moves to a fallback model."""


class CallStream:
    """A running call: iterate it for text chunks, then read `result`.

    ``async for chunk in stream`` yields answer text as the CLI writes it; `events()` yields
    the same text interleaved with attempt and retry events. When iteration ends the call is
    over: `result` holds the `CallResult` (also for failures) and `error` the `LLMError`, if any.
    `wait()` drains what is left and returns the result or raises the error.

    When a rate-limited attempt is retried, the text it produced was already yielded; `events()`
    marks the start of each attempt with `AttemptStarted`, and `result.output` holds only the
    last attempt's text.
    """

    def __init__(self, call: Call, receive: trio.MemoryReceiveChannel[StreamEvent]) -> None:
        self._call = call
        self._receive = receive

    @property
    def model(self) -> str:
        return self._call.request.model

    @property
    def timeout(self) -> TimeoutChoice:
        return self._call.request.timeout

    @property
    def done(self) -> bool:
        return self._call.done.is_set()

    @property
    def result(self) -> CallResult:
        if self._call.result is None:
            raise RuntimeError("the call is still running; iterate the stream or await wait()")
        return self._call.result

    @property
    def error(self) -> LLMError | None:
        return self._call.error

    def __aiter__(self) -> _TextIterator:
        return _TextIterator(self._receive)

    def events(self) -> _EventIterator[StreamEvent]:
        return _EventIterator(self._receive)

    async def wait(self) -> CallResult:
        """Wait for the end of the call, dropping the events not read yet.

        Returns:
            the `CallResult` of a successful call.

        Raises:
            LLMError: the call failed; ``error.result`` holds what was collected.

        Cancellation: cancelling `wait` leaves the call running; it ends (its process tree
        killed and reaped) when the ``open_stream`` block is left, which a cancellation
        normally does next.
        """
        async for _ in self._receive:
            pass
        if not self._call.done.is_set():  # it is once the channel ended, unless it was closed
            await self._call.done.wait()
        return self._call.outcome()


class _EventIterator(Generic[_T]):
    def __init__(self, receive: trio.MemoryReceiveChannel[_T]) -> None:
        self._receive = receive

    def __aiter__(self) -> _EventIterator[_T]:
        return self

    async def __anext__(self) -> _T:
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None


class _TextIterator:
    def __init__(self, receive: trio.MemoryReceiveChannel[StreamEvent]) -> None:
        self._events = _EventIterator(receive)

    def __aiter__(self) -> _TextIterator:
        return self

    async def __anext__(self) -> str:
        while True:
            event = await self._events.__anext__()
            if isinstance(event, TextDelta):
                return event.text
