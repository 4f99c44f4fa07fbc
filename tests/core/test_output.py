"""`_core.output.AttemptOutput`: the cap, truncation, the stderr tail and what is forwarded,
fed events and bytes directly (no process)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llminst._core.events import (
    ErrorNotice,
    FinalResult,
    RetryNotice,
    TextDelta,
    Truncated,
)
from llminst._core.output import AttemptOutput, clip_utf8, utf8_size
from llminst._core.repeated_errors import RepeatedErrorKind
from llminst._core.spec import ModelSpec, OutputFormat, Settings

TEXT_SPEC = ModelSpec(name="t", command=("t",), unreachable_patterns=(r"connection refused",))
CLAUDE_SPEC = ModelSpec(name="c", command=("c",), output_format=OutputFormat.CLAUDE_STREAM_JSON)


def output_for(
    spec: ModelSpec = TEXT_SPEC, *, cap: int = 1000, tail: int = 100, repeats: int = 3
) -> AttemptOutput:
    settings = Settings(
        max_output_bytes=cap, stderr_tail_bytes=tail, stop_after_repeated_errors=repeats
    )
    return AttemptOutput.for_attempt(1, spec, settings)


# --------------------------------------------------------------------------------------------
# The cap


def test_text_within_the_cap_is_kept_and_forwarded_as_is() -> None:
    """Text that fits is kept whole and forwarded; nothing is marked truncated."""
    output = output_for(cap=10)
    assert output.receive_event(TextDelta("hello")) == TextDelta("hello")
    assert output.receive_event(TextDelta("world")) == TextDelta("world")
    assert output.text == "helloworld" and output.size == 10
    assert not output.truncated and output.dropped_bytes == 0


def test_text_over_the_cap_is_clipped_and_the_dropped_bytes_counted() -> None:
    """The chunk that crosses the cap is clipped; only what was kept is forwarded."""
    output = output_for(cap=8)
    output.receive_event(TextDelta("hello"))
    assert output.receive_event(TextDelta("world")) == TextDelta("wor")
    assert output.text == "hellowor"
    assert output.truncation == "cap" and output.dropped_bytes == 2


def test_once_full_later_text_is_dropped_counted_and_not_forwarded() -> None:
    """Regression: the dropped count was passed along and then ignored; now it adds up."""
    output = output_for(cap=4)
    output.receive_event(TextDelta("abcdef"))
    assert output.receive_event(TextDelta("ghij")) is None
    assert output.text == "abcd"
    assert output.dropped_bytes == 2 + 4


def test_the_cap_counts_utf8_bytes_and_never_splits_a_character() -> None:
    """'é' is 2 bytes and '🦀' 4: a cap of 5 keeps 'éé' (4 bytes), not half a crab."""
    output = output_for(cap=5)
    forwarded = output.receive_event(TextDelta("éé🦀"))
    assert forwarded == TextDelta("éé")
    assert output.size == 5  # the cap is reached: nothing more fits
    assert output.dropped_bytes == 4


def test_a_final_result_over_the_cap_is_clipped_and_counted() -> None:
    """The CLI's own final text is held to the cap too (reason ``final``)."""
    output = output_for(cap=3)
    assert output.receive_event(FinalResult("abcdef", usage={"n": 1})) is None
    assert output.final == FinalResult("abc", usage={"n": 1})
    assert output.text == "abc"
    assert output.truncation == "final" and output.dropped_bytes == 3


def test_a_decoders_truncation_is_recorded_with_its_reason() -> None:
    """A line the decoder dropped marks the output truncated; the first reason stays."""
    output = output_for(cap=3)
    output.receive_event(Truncated(dropped_bytes=70, reason="line"))
    output.receive_event(TextDelta("abcd"))
    assert output.truncation == "line" and output.dropped_bytes == 71


@given(
    chunks=st.lists(st.text(max_size=20), max_size=20),
    cap=st.integers(min_value=1, max_value=120),
)
def test_forwarded_text_is_the_kept_text_and_nothing_is_lost_unnoticed(
    chunks: list[str], cap: int
) -> None:
    """Whatever the chunks: forwarded == kept, kept fits the cap, kept + dropped == given."""
    output = output_for(cap=cap)
    forwarded = []
    for chunk in chunks:
        event = output.receive_event(TextDelta(chunk))
        if event is not None:
            assert isinstance(event, TextDelta)
            forwarded.append(event.text)
    assert "".join(forwarded) == output.text
    assert utf8_size(output.text) <= cap
    assert utf8_size(output.text) + output.dropped_bytes == sum(utf8_size(c) for c in chunks)
    assert output.truncated == (output.dropped_bytes > 0)


@given(text=st.text(max_size=30), limit=st.integers(min_value=-2, max_value=130))
def test_clip_utf8_is_the_longest_prefix_that_fits(text: str, limit: int) -> None:
    """The clipped text is a prefix within the limit, and one more character would not fit."""
    clipped = clip_utf8(text, limit)
    assert text.startswith(clipped)
    assert utf8_size(clipped) <= max(0, limit)
    if clipped != text:
        assert utf8_size(text[: len(clipped) + 1]) > max(0, limit)


# --------------------------------------------------------------------------------------------
# Notices, errors, the answer


def test_retry_notices_are_kept_and_forwarded_error_notices_only_kept() -> None:
    """The caller sees the CLI's retry notices; its error notices go into the diagnosis."""
    output = output_for()
    notice = RetryNotice("rate limited", delay_s=3.0, rate_limited=True)
    assert output.receive_event(notice) is notice
    assert output.receive_event(ErrorNotice("boom")) is None
    assert output.notices == [notice] and output.errors == ["boom"]
    assert output.reported_error() == ("the CLI's last error notice says", "boom")


def test_the_answer_is_the_final_text_unless_it_reports_an_error() -> None:
    """A final result's text wins over the streamed parts; an error result's text never."""
    output = output_for()
    output.receive_event(TextDelta("partial "))
    output.receive_event(FinalResult("the answer"))
    assert output.text == "the answer"
    failed = output_for()
    failed.receive_event(TextDelta("streamed"))
    failed.receive_event(FinalResult("API Error: 500", is_error=True))
    assert failed.text == "streamed"
    assert failed.reported_error() == ("the CLI's result line says", "API Error: 500")
    assert failed.failure_cause() == "API Error: 500"


def test_stdout_bytes_are_decoded_by_the_models_decoder() -> None:
    """Bytes in, decoded events applied: claude's stream-json yields its result text."""
    output = output_for(CLAUDE_SPEC)
    line = {"type": "result", "subtype": "success", "is_error": False, "result": "hi"}
    data = json.dumps(line).encode() + b"\n"
    assert output.receive_stdout(data[:10]) == []
    output.receive_stdout(data[10:])
    assert output.end_of_stdout() == []
    assert output.text == "hi"


def test_text_split_anywhere_in_stdout_is_forwarded_once_the_decoder_has_it() -> None:
    """Plain text: each chunk of bytes is forwarded as it arrives, a split character intact."""
    output = output_for()
    crab = "🦀".encode()
    forwarded = output.receive_stdout(b"a" + crab[:2])
    forwarded += output.receive_stdout(crab[2:] + b"b")
    forwarded += output.end_of_stdout()
    assert "".join(e.text for e in forwarded if isinstance(e, TextDelta)) == "a🦀b"


# --------------------------------------------------------------------------------------------
# stderr


def test_only_the_tail_of_stderr_is_kept() -> None:
    """However much comes, the last `stderr_tail_bytes` are kept, across chunks."""
    output = output_for(tail=10)
    output.receive_stderr(b"0123456789")
    output.receive_stderr(b"abcdef")
    assert bytes(output.stderr) == b"6789abcdef"


def test_the_stderr_tail_reads_without_terminal_codes() -> None:
    """Colours and cursor codes are stripped from the tail used in messages."""
    output = output_for()
    output.receive_stderr(b"\x1b[31mError:\x1b[0m bad \xff key\n")
    assert output.stderr_tail() == "Error: bad \ufffd key\n"
    assert "Error: bad" in output.error_text()


# --------------------------------------------------------------------------------------------
# Early stop


def test_a_repeated_connection_error_on_stderr_asks_for_a_stop() -> None:
    """The third identical connection error (digits aside) sets `stopped`."""
    output = output_for()
    for attempt in range(1, 3):
        output.receive_stderr(f"attempt {attempt}: connection refused\n".encode())
        assert output.stopped is None
    output.receive_stderr(b"attempt 3: connection refused\n")
    assert output.stopped is not None
    assert output.stopped.kind is RepeatedErrorKind.UNREACHABLE
    assert output.stopped.source == "stderr" and output.stopped.count == 3


def test_no_stop_once_the_process_has_exited_by_itself() -> None:
    """Errors read after the exit are classified as usual, never turned into a stop."""
    output = output_for()
    output.receive_stderr(b"connection refused\nconnection refused\n")
    output.process_exited()
    output.receive_stderr(b"connection refused\n")
    assert output.stopped is None


def test_no_stop_once_the_answer_has_started() -> None:
    """A CLI that answers reaches its API: later connection errors do not stop it."""
    output = output_for()
    output.receive_event(TextDelta("answer"))
    output.receive_stderr(b"connection refused\n" * 5)
    assert output.stopped is None


def test_a_stopped_output_decodes_nothing_more() -> None:
    """After a stop, what the decoder held back is not decoded (the CLI was cut off)."""
    output = output_for()
    output.receive_stderr(b"connection refused\n" * 3)
    output.receive_stdout(b"unterminated")
    assert output.end_of_stdout() == []


@pytest.mark.parametrize("repeats", [0, 3])
def test_a_detector_is_made_only_when_there_is_something_to_detect(repeats: int) -> None:
    """No patterns, detection off, or no error before the answer: no detector is made."""
    spec = ModelSpec(name="p", command=("p",), unreachable_patterns=(), auth_patterns=())
    without_patterns = output_for(spec, repeats=repeats)
    without_patterns.receive_stderr(b"connection refused\n")
    assert without_patterns.detector is None
    with_patterns = output_for(TEXT_SPEC, repeats=repeats)
    assert with_patterns.detector is None  # nothing said yet
    with_patterns.receive_stderr(b"connection refused\n")
    assert (with_patterns.detector is None) == (repeats == 0)
    answered = output_for(TEXT_SPEC, repeats=repeats)
    answered.receive_event(TextDelta("the answer"))
    answered.receive_stderr(b"connection refused\n")
    assert answered.detector is None
