"""The progress coalescing rules, fed times directly: no trio, no clock, no process."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llminst._core.coalesce import ProgressCoalescer, utf8_size


def coalescer(
    *, coalesce_s: float = 0.05, coalesce_bytes: int = 4096, keepalive_s: float = 10.0
) -> ProgressCoalescer:
    return ProgressCoalescer(
        coalesce_s=coalesce_s,
        coalesce_bytes=coalesce_bytes,
        keepalive_s=keepalive_s,
        started_at=100.0,
    )


def test_the_first_text_goes_out_at_once() -> None:
    """Nothing was sent yet: the first text is not held back."""
    c = coalescer()
    assert c.text("hello", now=100.0) == ["hello"]


def test_text_after_a_quiet_spell_goes_out_at_once() -> None:
    """A slow stream pays no added latency: text coalesce_s after the last text is sent."""
    c = coalescer()
    c.sent(c.text("a", now=100.0)[0], now=100.0)
    assert c.text("b", now=100.06) == ["b"]


def test_a_burst_is_batched_until_the_deadline() -> None:
    """Text within coalesce_s of the last text sent waits; the timer sends it as one."""
    c = coalescer()
    c.sent("a", now=100.0)
    assert c.text("b", now=100.01) == []
    assert c.text("c", now=100.02) == []
    assert c.next_deadline() == pytest.approx(100.05)
    assert c.timer(now=100.049) == []  # not due yet
    assert c.timer(now=100.05) == ["bc"]


def test_enough_pending_bytes_go_out_before_the_deadline() -> None:
    """Once coalesce_bytes are pending, they are sent without waiting for the timer."""
    c = coalescer(coalesce_bytes=10)
    c.sent("a", now=100.0)
    assert c.text("12345", now=100.01) == []
    assert c.text("67890", now=100.01) == ["1234567890"]
    assert c.pending_bytes == 0


def test_coalesce_bytes_counts_utf8_bytes_not_characters() -> None:
    """Regression (issue 11): the byte threshold was compared with a character count, so text
    in a script of two- to four-byte characters was held until two to four times the bytes."""
    c = coalescer(coalesce_bytes=10)
    c.sent("a", now=100.0)
    assert c.text("éééé", now=100.01) == []  # 8 bytes
    assert c.pending_bytes == 8
    assert c.text("é", now=100.01) == ["ééééé"]  # 10 bytes, 5 characters
    c.sent("ééééé", now=100.01)
    assert c.text("🙂🙂", now=100.02) == []  # 8 bytes, 2 characters
    assert c.text("🙂", now=100.02) == ["🙂🙂🙂"]


@pytest.mark.parametrize(
    "text", ["", "ascii", "é", "日本語", "🙂", "mixed é 日 🙂", "\ud800"], ids=repr
)
def test_utf8_size_is_the_encoded_length(text: str) -> None:
    """utf8_size is the length of the UTF-8 encoding (a lone surrogate counts its 3 bytes)."""
    assert utf8_size(text) == len(text.encode("utf-8", "surrogatepass"))


def test_a_silent_call_gets_keepalives() -> None:
    """With nothing pending, the timer gives a keepalive every keepalive_s after the last notice."""
    c = coalescer(keepalive_s=0.2)
    assert c.next_deadline() == pytest.approx(100.2)
    assert c.timer(now=100.2) == [None]
    c.sent(None, now=100.2)
    assert c.next_deadline() == pytest.approx(100.4)


def test_the_keepalive_clock_restarts_with_every_notice() -> None:
    """Text sent is also a sign of life: the next keepalive is due keepalive_s after it."""
    c = coalescer(keepalive_s=0.2)
    c.sent(c.text("a", now=100.15)[0], now=100.16)
    assert c.next_deadline() == pytest.approx(100.36)


def test_the_earlier_of_keepalive_and_coalescing_is_the_deadline() -> None:
    """Pending text is due at last text + coalesce_s, unless a keepalive is due before."""
    c = coalescer(coalesce_s=1.0, keepalive_s=0.2)
    c.sent("a", now=100.0)
    c.text("b", now=100.1)
    assert c.next_deadline() == pytest.approx(100.2)
    assert c.timer(now=100.2) == ["b"]  # due: the pending text, not an empty keepalive


def test_a_keepalive_does_not_restart_the_coalescing_clock() -> None:
    """Only text sends count as the last text: after a keepalive, text still goes at once."""
    c = coalescer(coalesce_s=0.05, keepalive_s=0.2)
    c.sent(None, now=100.2)
    assert c.text("a", now=100.21) == ["a"]


def test_a_retry_sends_what_is_pending_then_a_notice_without_text() -> None:
    """The client sees the call is alive; the text before the retry stays in order."""
    c = coalescer()
    c.sent("a", now=100.0)
    c.text("b", now=100.01)
    assert c.retry() == ["b", None]
    assert c.retry() == [None]


def test_the_end_sends_what_is_pending() -> None:
    """When the stream ends, held text is sent; nothing is sent when nothing is held."""
    c = coalescer()
    c.sent("a", now=100.0)
    c.text("b", now=100.01)
    assert c.finish() == ["b"]
    assert c.finish() == []


def test_times_count_from_the_end_of_a_send() -> None:
    """A slow client must not make every chunk look like the first after a quiet spell."""
    c = coalescer(coalesce_s=0.05)
    c.text("a", now=100.0)
    c.sent("a", now=100.3)  # the client took 0.3 s to take it
    assert c.text("b", now=100.31) == []
    assert c.next_deadline() == pytest.approx(100.35)


# A step: text arriving after a pause, a retry, or the timer firing at its deadline.
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("text"), st.text(min_size=1, max_size=20), st.floats(0, 0.2)),
        st.tuples(st.just("retry"), st.just(""), st.just(0.0)),
        st.tuples(st.just("timer"), st.just(""), st.just(0.0)),
    ),
    max_size=60,
)


@given(steps=_steps, coalesce_bytes=st.integers(1, 64))
def test_the_text_notices_spell_the_stream_exactly(
    steps: list[tuple[str, str, float]], coalesce_bytes: int
) -> None:
    """Whatever arrives when, the text notices concatenate to the text received, none is
    empty, and no more than coalesce_bytes plus one chunk is ever held back."""
    c = coalescer(coalesce_bytes=coalesce_bytes, keepalive_s=0.1)
    now, received, notices = 100.0, "", []
    for kind, text, pause in steps:
        if kind == "text":
            now += pause
            received += text
            out = c.text(text, now=now)
            assert c.pending_bytes < coalesce_bytes or out == []
            assert c.pending_bytes < coalesce_bytes + utf8_size(text)
        elif kind == "retry":
            out = c.retry()
        else:
            now = max(now, c.next_deadline())
            out = c.timer(now=now)
            assert out != [], "a timer at its deadline always sends something"
        for notice in out:
            c.sent(notice, now=now)
        notices += out
    notices += c.finish()
    texts = [n for n in notices if n is not None]
    assert "".join(texts) == received
    assert all(texts)
    assert not math.isinf(c.next_deadline())
