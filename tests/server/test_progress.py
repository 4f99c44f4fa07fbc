"""Progress forwarding on a virtual clock: keepalives, coalescing and order, without a process.

`forward_progress` reads a real trio memory channel that a producer fills on a scripted
schedule, and reports into a recorder; trio's `MockClock(autojump_threshold=0)` (the
`autojump_clock` fixture) jumps over every wait, so seconds of schedule take milliseconds and
every time below is exact. The same rules through a real CLI and the SDK's client are in
test_mcp_tools.py.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
import trio
import trio.testing

from llminst._core.events import RetryNotice, TextDelta
from llminst.server.progress import forward_progress
from llminst.supervisor import AttemptStarted, RetryScheduled

Sent = tuple[float, float, str | None]  # (seconds since the start, progress, message)


async def forward(
    script: list[tuple[float, object]],
    *,
    report_takes_s: float = 0.0,
    coalesce_s: float = 0.05,
    coalesce_bytes: int = 4096,
    keepalive_s: float = 10.0,
) -> list[Sent]:
    """Feed `script` ((pause before it, event) pairs) through forward_progress; return what
    was reported and when (a report taking `report_takes_s`, like a slow client)."""
    sent: list[Sent] = []
    send, receive = trio.open_memory_channel[object](math.inf)
    start = trio.current_time()

    async def report(progress: float, total: float | None, message: str | None) -> None:
        assert total is None
        await trio.sleep(report_takes_s)
        sent.append((round(trio.current_time() - start, 9), progress, message))

    async def produce() -> None:
        async with send:
            for pause, event in script:
                await trio.sleep(pause)
                send.send_nowait(event)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce)
        await forward_progress(
            receive,
            report,
            coalesce_s=coalesce_s,
            coalesce_bytes=coalesce_bytes,
            keepalive_s=keepalive_s,
        )
    assert [progress for _, progress, _ in sent] == list(range(1, len(sent) + 1))
    return sent


def text(value: str) -> TextDelta:
    return TextDelta(value)


async def test_a_silent_cli_gets_keepalives(autojump_clock: Any) -> None:
    """While the CLI says nothing, a notification without text goes out every keepalive_s."""
    sent = await forward([(1.1, text("late"))], keepalive_s=0.2)
    assert [m for _, _, m in sent] == [None, None, None, None, None, "late"]
    assert [t for t, _, _ in sent] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0, 1.1])


async def test_a_slow_stream_is_sent_without_delay(autojump_clock: Any) -> None:
    """Text after a quiet spell goes out the moment it arrives."""
    sent = await forward([(1.0, text("a")), (1.0, text("b")), (0.5, text("c"))])
    assert sent == [(1.0, 1, "a"), (2.0, 2, "b"), (2.5, 3, "c")]


async def test_a_burst_is_one_notification_per_coalesce_interval(autojump_clock: Any) -> None:
    """A thousand deltas over a second reach the client as about twenty notifications, at
    least coalesce_s apart until the end, with the text intact."""
    words = [f"w{i} " for i in range(1000)]
    sent = await forward([(0.001, text(w)) for w in words], coalesce_s=0.05)
    times = [t for t, _, _ in sent]
    assert "".join(m for _, _, m in sent if m is not None) == "".join(words)
    assert 18 <= len(sent) <= 23, times
    # The last one is the end of the stream, which waits for nothing.
    gaps = [b - a for a, b in itertools.pairwise(times[:-1])]
    assert min(gaps) >= 0.05 - 1e-9, times


async def test_enough_pending_bytes_go_out_at_once(autojump_clock: Any) -> None:
    """Text arriving together goes out whenever coalesce_bytes (UTF-8 bytes) are pending,
    without waiting for the interval (regression: characters were counted, not bytes)."""
    script = [(0.0, text("start"))] + [(0.0, text("é" * 5)) for _ in range(4)]
    sent = await forward(script, coalesce_bytes=20, coalesce_s=1.0)
    assert sent == [(0.0, 1, "start"), (0.0, 2, "é" * 10), (0.0, 3, "é" * 10)]


async def test_a_retry_is_a_notification_without_text(autojump_clock: Any) -> None:
    """A retry (llminst's or the CLI's own) sends the pending text, then a notice without
    text; other events (an attempt starting) send nothing."""
    script = [
        (0.0, text("a")),
        (0.01, text("b")),
        (0.0, RetryScheduled(attempt=1, delay_s=2.0, reason="rate limited", reset_at=None)),
        (2.0, AttemptStarted(attempt=2, pid=1)),
        (0.0, text("c")),
        (0.01, RetryNotice(message="api_retry")),
        (0.0, text("d")),
    ]
    sent = await forward(script)
    assert [m for _, _, m in sent] == ["a", "b", None, "c", None, "d"]
    assert [t for t, _, _ in sent] == pytest.approx([0.0, 0.01, 0.01, 2.01, 2.02, 2.02])


async def test_times_count_from_the_end_of_a_send(autojump_clock: Any) -> None:
    """A slow client (each report takes 0.2 s) does not make every chunk look like the first
    after a quiet spell: text arriving right after a send waits for the interval."""
    script = [(0.0, text("a")), (0.21, text("b")), (1.0, text("c"))]
    sent = await forward(script, report_takes_s=0.2)
    # "a" is handed over at 0 and done at 0.2; "b" arrives at 0.21, within 0.05 of that, so
    # it is held until 0.25 and done at 0.45; "c" comes after a quiet spell and goes at once.
    assert [m for _, _, m in sent] == ["a", "b", "c"]
    assert [t for t, _, _ in sent] == pytest.approx([0.2, 0.45, 1.41])


async def test_pending_text_is_sent_when_the_stream_ends(autojump_clock: Any) -> None:
    """Nothing is lost at the end: text held for coalescing goes out when the events end."""
    sent = await forward([(0.0, text("a")), (0.0, text("b"))], coalesce_s=5.0)
    assert sent == [(0.0, 1, "a"), (0.0, 2, "b")]
