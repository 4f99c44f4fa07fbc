"""Tests for llminst._core.decoders: bytes in, events out, whatever the chunking."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llminst._core.decoders import (
    ClaudeStreamJsonDecoder,
    TextDecoder,
    make_decoder,
)
from llminst._core.events import (
    ErrorNotice,
    Event,
    FinalResult,
    RetryNotice,
    TextDelta,
    Truncated,
)
from llminst._core.spec import OutputFormat

from ..support.decoding import (
    chunkings,
    jsonl,
    malformed_records,
    non_text,
    one_byte_at_a_time,
    pure_property,
    run,
    split_at,
    text_of,
)

CHUNK = 64 * 1024


def claude(data: bytes, **kwargs: Any) -> list[Event]:
    return run(ClaudeStreamJsonDecoder(**kwargs), [data])


# --- realistic claude transcripts -----------------------------------------------------------------

SESSION = "8f0c2a4e-5d1b-4c1e-9a7e-2f6b1c3d4e5f"

INIT: dict[str, Any] = {
    "type": "system",
    "subtype": "init",
    "cwd": "/tmp/work",
    "session_id": SESSION,
    "tools": ["Bash", "Read", "Edit"],
    "mcp_servers": [],
    "model": "claude-sonnet-4-5",
    "permissionMode": "bypassPermissions",
    "apiKeySource": "ANTHROPIC_API_KEY",
}
RATE_LIMIT_ALLOWED: dict[str, Any] = {
    "type": "rate_limit_event",
    "rate_limit_info": {
        "status": "allowed",
        "resetsAt": 1771390800,
        "rateLimitType": "five_hour",
        "overageStatus": "rejected",
        "isUsingOverage": False,
    },
    "uuid": "76258cfb-0dc8-4d4b-8682-77082b59c03f",
    "session_id": SESSION,
}
USAGE = {"input_tokens": 12, "output_tokens": 7, "cache_read_input_tokens": 0}


def assistant(
    *content: dict[str, Any], msg_id: str = "msg_01", parent: str | None = None
) -> dict[str, Any]:
    return {
        "type": "assistant",
        "message": {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": list(content),
            "stop_reason": None,
            "usage": USAGE,
        },
        "parent_tool_use_id": parent,
        "session_id": SESSION,
    }


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def tool_use_block(tool_id: str = "toolu_01") -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": "Bash", "input": {"command": "ls"}}


def tool_result(tool_id: str = "toolu_01") -> dict[str, Any]:
    return {
        "type": "user",
        "message": {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": "README.md"}],
        },
        "parent_tool_use_id": None,
        "session_id": SESSION,
    }


def stream(event: dict[str, Any], parent: str | None = None) -> dict[str, Any]:
    return {
        "type": "stream_event",
        "event": event,
        "session_id": SESSION,
        "parent_tool_use_id": parent,
        "uuid": "0b7e",
    }


def message_start(msg_id: str) -> dict[str, Any]:
    return stream(
        {
            "type": "message_start",
            "message": {"id": msg_id, "type": "message", "role": "assistant", "content": []},
        }
    )


def text_delta(text: str, index: int = 0) -> dict[str, Any]:
    return stream(
        {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "text_delta", "text": text},
        }
    )


def streamed_text_message(msg_id: str, *pieces: str) -> list[dict[str, Any]]:
    """What --include-partial-messages prints for one text-only message."""
    return [
        message_start(msg_id),
        stream({"type": "content_block_start", "index": 0, "content_block": text_block("")}),
        *(text_delta(p) for p in pieces),
        assistant(text_block("".join(pieces)), msg_id=msg_id),
        stream({"type": "content_block_stop", "index": 0}),
        stream({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": USAGE}),
        stream({"type": "message_stop"}),
    ]


def result(text: str | None = "Hello!", **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "duration_ms": 2310,
        "duration_api_ms": 2101,
        "num_turns": 1,
        "result": text,
        "session_id": SESSION,
        "total_cost_usd": 0.0123,
        "usage": USAGE,
    }
    if text is None:
        del record["result"]
    record.update(overrides)
    return record


# --- claude stream-json ---------------------------------------------------------------------------


def test_plain_run_yields_text_and_final_result() -> None:
    """A run without partial messages streams the assistant text and ends with a FinalResult."""
    data = jsonl([INIT, RATE_LIMIT_ALLOWED, assistant(text_block("Hello!")), result("Hello!")])

    events = claude(data)

    assert text_of(events) == "Hello!"
    assert events[-1] == FinalResult(
        text="Hello!",
        is_error=False,
        subtype="success",
        usage=USAGE,
        cost_usd=0.0123,
        session_id=SESSION,
    )


def test_partial_messages_are_not_duplicated() -> None:
    """With --include-partial-messages the deltas are the text; the assistant lines add nothing."""
    data = jsonl(
        [
            INIT,
            *streamed_text_message("msg_01", "Let me ", "look."),
            message_start("msg_02"),
            assistant(tool_use_block(), msg_id="msg_02"),
            tool_result(),
            *streamed_text_message("msg_03", "Found ", "README.md", "."),
            result("Found README.md."),
        ]
    )

    events = claude(data)

    assert text_of(events) == "Let me look.Found README.md."
    assert [e.text for e in events if isinstance(e, TextDelta)] == [
        "Let me ",
        "look.",
        "Found ",
        "README.md",
        ".",
    ]


def test_streamed_message_id_suppresses_its_later_assistant_lines() -> None:
    """An assistant line for a message whose text already streamed is skipped, even after others."""
    data = jsonl(
        [
            message_start("msg_01"),
            text_delta("Hi"),
            assistant(tool_use_block(), msg_id="msg_01"),
            assistant(text_block("Hi"), msg_id="msg_01"),
        ]
    )

    assert text_of(claude(data)) == "Hi"


def test_assistant_text_after_streamed_message_is_kept() -> None:
    """A message that did not stream (different id, no deltas) still yields its text."""
    data = jsonl(
        [
            *streamed_text_message("msg_01", "One. "),
            assistant(text_block("Two."), msg_id="msg_02"),
        ]
    )

    assert text_of(claude(data)) == "One. Two."


def test_deltas_without_message_start_still_deduplicate() -> None:
    """Without ids, any text delta since the last assistant line marks that line as streamed."""
    data = jsonl([text_delta("Hel"), text_delta("lo"), assistant(text_block("Hello"), msg_id="x")])

    assert text_of(claude(data)) == "Hello"


def test_empty_result_is_rebuilt_from_assistant_text_blocks() -> None:
    """An empty ``result`` (a known CLI bug) is rebuilt from every assistant text block seen."""
    data = jsonl(
        [
            INIT,
            assistant(text_block("Checking. "), tool_use_block(), msg_id="msg_01"),
            tool_result(),
            assistant(text_block("All good."), msg_id="msg_02"),
            result(""),
        ]
    )

    (final,) = non_text(claude(data))

    assert isinstance(final, FinalResult)
    assert final.text == "Checking. All good."


def test_missing_result_is_rebuilt_from_streamed_messages() -> None:
    """A missing ``result`` is rebuilt even when the text arrived as deltas."""
    data = jsonl([*streamed_text_message("msg_01", "Hel", "lo"), result(None)])

    (final,) = non_text(claude(data))

    assert final == FinalResult(
        text="Hello", subtype="success", usage=USAGE, cost_usd=0.0123, session_id=SESSION
    )


def test_empty_result_without_any_text_stays_empty() -> None:
    """With nothing to rebuild from, an empty result is reported as the CLI gave it."""
    (final,) = claude(jsonl([result("")]))

    assert isinstance(final, FinalResult)
    assert final.text == ""


def test_error_result_sets_is_error() -> None:
    """``is_error: true`` (claude not logged in) gives FinalResult(is_error=True) and nothing else."""
    data = jsonl(
        [
            INIT,
            assistant(text_block("Not logged in · Please run /login")),
            result("Not logged in · Please run /login", is_error=True, total_cost_usd=0),
        ]
    )

    events = claude(data)

    assert non_text(events) == [
        FinalResult(
            text="Not logged in · Please run /login",
            is_error=True,
            subtype="success",
            usage=USAGE,
            cost_usd=0.0,
            session_id=SESSION,
        )
    ]


def test_error_subtype_is_an_error_and_uses_errors_list() -> None:
    """An ``error_*`` subtype is an error even if is_error is false; its ``errors`` become the text."""
    data = jsonl(
        [
            assistant(text_block("partial work")),
            result(
                None, subtype="error_max_turns", is_error=False, errors=["Reached max turns (3)"]
            ),
        ]
    )

    (final,) = non_text(claude(data))

    assert isinstance(final, FinalResult)
    assert final.is_error
    assert final.subtype == "error_max_turns"
    assert final.text == "Reached max turns (3)"


def api_error_message(text: str, error: str = "invalid_request") -> dict[str, Any]:
    """The assistant line claude makes up to report an API failure (as in the recordings)."""
    record = assistant(text_block(text), msg_id="0f4b5c1e-synthetic")
    record["message"]["model"] = "<synthetic>"
    return {**record, "error": error, "is_api_error_message": True}


def test_api_error_message_is_an_error_notice_not_answer_text() -> None:
    """Regression: a failed streamed call glued claude's error to the answer
    ("...in 2025 days andPrompt is too long"); the made-up error message is an ErrorNotice."""
    data = jsonl(
        [
            INIT,
            message_start("msg_01"),
            text_delta("It takes 2 years, "),
            text_delta("that is 730 days in 2025 days and"),
            api_error_message("Prompt is too long"),
            result("Prompt is too long", is_error=True),
        ]
    )

    events = claude(data)

    assert text_of(events) == "It takes 2 years, that is 730 days in 2025 days and"
    assert non_text(events) == [
        ErrorNotice("Prompt is too long"),
        FinalResult(
            text="Prompt is too long",
            is_error=True,
            subtype="success",
            usage=USAGE,
            cost_usd=0.0123,
            session_id=SESSION,
        ),
    ]


def test_api_error_message_is_never_rebuilt_into_a_result() -> None:
    """An empty result is rebuilt from real assistant text only, never from an error message."""
    data = jsonl(
        [
            assistant(text_block("Partial answer.")),
            api_error_message("API Error: Connection refused", error="unknown"),
            result(None),
        ]
    )

    events = claude(data)

    assert text_of(events) == "Partial answer."
    assert ErrorNotice("API Error: Connection refused") in events
    final = events[-1]
    assert isinstance(final, FinalResult) and final.text == "Partial answer."


def test_api_retry_becomes_retry_notice() -> None:
    """``system/api_retry`` becomes a RetryNotice with the delay in seconds; 429 is rate limited."""
    retry_429 = {
        "type": "system",
        "subtype": "api_retry",
        "attempt": 1,
        "max_retries": 10,
        "retry_delay_ms": 2000,
        "error_status": 429,
        "error": "rate_limit_error",
        "session_id": SESSION,
    }
    retry_529 = {**retry_429, "attempt": 2, "retry_delay_ms": 4500, "error_status": 529}

    first, second = claude(jsonl([INIT, retry_429, retry_529]))

    assert isinstance(first, RetryNotice)
    assert first.delay_s == 2.0
    assert first.rate_limited
    assert first.reset_at is None
    assert "429" in first.message
    assert "rate_limit_error" in first.message
    assert isinstance(second, RetryNotice)
    assert (second.delay_s, second.rate_limited) == (4.5, False)


@pytest.mark.parametrize(
    ("status", "rate_limited"),
    [("rejected", True), ("allowed", False), ("allowed_warning", False)],
)
def test_rate_limit_event_becomes_retry_notice(status: str, rate_limited: bool) -> None:
    """``rate_limit_event`` gives reset_at in epoch seconds; only ``rejected`` is rate limited."""
    record = {
        **RATE_LIMIT_ALLOWED,
        "rate_limit_info": {**RATE_LIMIT_ALLOWED["rate_limit_info"], "status": status},
    }

    (notice,) = claude(jsonl([record]))

    assert isinstance(notice, RetryNotice)
    assert notice.reset_at == 1771390800.0
    assert notice.rate_limited is rate_limited
    assert notice.delay_s is None
    assert status in notice.message
    assert "five_hour" in notice.message


def test_rate_limit_reset_in_milliseconds_is_converted() -> None:
    """A ``resetsAt`` that can only be milliseconds is converted to seconds."""
    record = {
        "type": "rate_limit_event",
        "rate_limit_info": {"status": "rejected", "resetsAt": 1771390800123},
    }

    (notice,) = claude(jsonl([record]))

    assert isinstance(notice, RetryNotice)
    assert notice.reset_at == pytest.approx(1771390800.123)


def test_rate_limit_event_without_reset_has_none() -> None:
    """A rate_limit_event missing fields still yields a notice, with reset_at None."""
    (notice,) = claude(jsonl([{"type": "rate_limit_event"}]))

    assert notice == RetryNotice("claude rate limit: unknown", reset_at=None, rate_limited=False)


def test_non_json_lines_pass_through_as_text() -> None:
    """Plain text lines become text plus a newline, and later JSON lines still decode."""
    data = jsonl(
        [
            "Not logged in · Please run /login",
            "{broken json",
            assistant(text_block("ok")),
            result("ok"),
        ]
    )

    events = claude(data)

    assert text_of(events) == "Not logged in · Please run /login\n{broken json\nok"
    assert isinstance(events[-1], FinalResult)


def test_bare_json_values_are_text() -> None:
    """A line that parses as JSON but is not an object (``42``, ``"x"``, ``[1]``) is text."""
    assert text_of(claude(b'42\n"x"\n[1]\nnull\n')) == '42\n"x"\n[1]\nnull\n'


def test_unterminated_last_line_is_decoded_at_close() -> None:
    """The last line needs no newline: close() decodes it."""
    decoder = ClaudeStreamJsonDecoder()

    assert decoder.feed(json.dumps(result("done")).encode()) == []
    (final,) = decoder.close()

    assert isinstance(final, FinalResult)
    assert final.text == "done"


def test_blank_lines_and_crlf_are_handled() -> None:
    """Blank lines are ignored and ``\\r\\n`` endings decode like ``\\n``."""
    data = jsonl(
        ["", "   ", assistant(text_block("hi")), "plain", result("hi"), "\t"], ending="\r\n"
    )

    events = claude(data)

    assert text_of(events) == "hiplain\n"
    assert len(non_text(events)) == 1


def test_ignored_lines_produce_nothing() -> None:
    """init, user, other system subtypes, unknown and odd ``type`` values produce no events."""
    records = [
        INIT,
        tool_result(),
        {"type": "system", "subtype": "compact_boundary"},
        {"type": "session_state_changed"},
        {"type": ["assistant"]},
        {"type": None},
        {"no_type": True},
        stream(
            {
                "type": "content_block_delta",
                "delta": {"type": "input_json_delta", "partial_json": "{"},
            }
        ),
        stream(
            {"type": "content_block_delta", "delta": {"type": "thinking_delta", "thinking": "hmm"}}
        ),
        assistant({"type": "thinking", "thinking": "hmm", "signature": "s"}, tool_use_block()),
    ]

    assert claude(jsonl(records)) == []


def test_subagent_lines_are_ignored() -> None:
    """Text from sub-agents (``parent_tool_use_id`` set) is not part of the answer."""
    data = jsonl(
        [
            stream(text_delta("sub")["event"], parent="toolu_task"),
            assistant(text_block("sub-agent says"), parent="toolu_task"),
            assistant(text_block("main")),
            result(""),
        ]
    )

    events = claude(data)

    assert text_of(events) == "main"
    assert isinstance(events[-1], FinalResult)
    assert events[-1].text == "main"


KNOWN_TYPES = ["stream_event", "assistant", "result", "system", "rate_limit_event", "user"]
KNOWN_KEYS = [
    "type", "subtype", "event", "delta", "text", "message", "content", "id", "result", "is_error",
    "usage", "total_cost_usd", "session_id", "errors", "rate_limit_info", "status", "resetsAt",
    "rateLimitType", "retry_delay_ms", "error_status", "error", "attempt", "parent_tool_use_id",
]  # fmt: skip
KNOWN_VALUES = [
    *KNOWN_TYPES, "text", "text_delta", "message_start", "content_block_delta", "api_retry",
    "rejected", "success", "error_max_turns", 429,
]  # fmt: skip
RECORDS = malformed_records(KNOWN_TYPES, KNOWN_KEYS, KNOWN_VALUES)


@pure_property
@given(st.lists(RECORDS, max_size=8))
def test_malformed_records_never_raise(records: list[dict[str, Any]]) -> None:
    """Records of known types with fields of any shape never raise."""
    events = run(ClaudeStreamJsonDecoder(), [jsonl(records)])

    assert all(isinstance(e, TextDelta | FinalResult | RetryNotice) for e in events)


def test_huge_numbers_and_deep_nesting_never_raise() -> None:
    """Overflowing numbers are dropped and deeply nested JSON is treated as text."""
    deep = "[" * 100_000 + "]" * 100_000
    data = (
        b'{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":1e400}}\n'
        + b'{"type":"result","total_cost_usd":' + b"9" * 400 + b',"result":"r"}\n'
        + deep.encode() + b"\n"
    )  # fmt: skip

    notice, final, text = claude(data)

    assert notice == RetryNotice("claude rate limit: rejected", rate_limited=True)
    assert isinstance(final, FinalResult)
    assert final.cost_usd is None
    assert text == TextDelta(deep + "\n")


# --- text decoder -----------------------------------------------------------------------------------


def test_text_decoder_holds_back_split_characters() -> None:
    """A multi-byte character split across chunks comes out whole, and no empty TextDelta appears."""
    decoder = TextDecoder()
    emoji = "🦀".encode()

    assert decoder.feed(b"a" + emoji[:1]) == [TextDelta("a")]
    assert decoder.feed(emoji[1:3]) == []
    assert decoder.feed(emoji[3:] + b"\r") == [TextDelta("🦀\r")]
    assert decoder.feed(b"\n") == [TextDelta("\n")]
    assert decoder.feed(b"") == []
    assert decoder.close() == []


def test_text_decoder_close_flushes_incomplete_character() -> None:
    """An incomplete UTF-8 sequence at the end of the stream becomes U+FFFD at close()."""
    decoder = TextDecoder()

    assert decoder.feed("é".encode()[:1]) == []
    assert decoder.close() == [TextDelta("\ufffd")]


# --- both decoders --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_invalid_utf8_and_nul_become_text(fmt: OutputFormat) -> None:
    """Invalid UTF-8 becomes U+FFFD and NUL bytes pass through, without raising."""
    data = b"ok \xff\xfe \x00 \xc3( \xed\xa0\x80 end\n"

    events = run(make_decoder(fmt), one_byte_at_a_time(data))

    assert text_of(events) == data.decode("utf-8", errors="replace")
    assert "\x00" in text_of(events)
    assert non_text(events) == []


def test_make_decoder_picks_the_format() -> None:
    """make_decoder returns a fresh decoder of the right class for each format."""
    assert isinstance(make_decoder(OutputFormat.TEXT), TextDecoder)
    assert isinstance(make_decoder(OutputFormat.CLAUDE_STREAM_JSON), ClaudeStreamJsonDecoder)
    assert make_decoder(OutputFormat.TEXT) is not make_decoder(OutputFormat.TEXT)


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_make_decoder_rejects_non_positive_line_limit(fmt: OutputFormat) -> None:
    """A max_line_bytes below 1 is a ValueError."""
    with pytest.raises(ValueError, match="max_line_bytes"):
        make_decoder(fmt, max_line_bytes=0)


# --- chunking invariance (hypothesis) ---------------------------------------------------------------

UNICODE = st.text(
    st.characters(codec="utf-8", exclude_characters="\n"), max_size=20
) | st.sampled_from(["🦀", "naïve café", "日本語のテキスト", "👩‍👩‍👧‍👦", "\x00", "a\rb", " "])


@st.composite
def claude_lines(draw: st.DrawFn) -> dict[str, Any] | str:
    text = draw(UNICODE)
    msg_id = draw(st.sampled_from(["msg_a", "msg_b"]))
    choices: list[dict[str, Any] | str] = [
        text,  # a plain-text line
        message_start(msg_id),
        text_delta(text),
        assistant(text_block(text), msg_id=msg_id),
        result(text),
        result(""),
        {
            "type": "system",
            "subtype": "api_retry",
            "retry_delay_ms": 1000,
            "error_status": 429,
        },
        {
            "type": "rate_limit_event",
            "rate_limit_info": {"status": "rejected", "resetsAt": 1},
        },
        INIT,
    ]
    line: dict[str, Any] | str = draw(st.sampled_from(choices))
    return line


@pure_property
@given(st.data(), st.lists(claude_lines(), max_size=12), st.sampled_from(["\n", "\r\n"]))
def test_claude_events_do_not_depend_on_chunking(
    data: st.DataObject, lines: list[dict[str, Any] | str], ending: str
) -> None:
    """Feeding claude output split anywhere gives exactly the events of feeding it whole."""
    payload = jsonl(lines, ending=ending)
    chunks = data.draw(chunkings(payload))

    assert b"".join(chunks) == payload
    assert run(ClaudeStreamJsonDecoder(), chunks) == claude(payload)


@pure_property
@given(st.data(), st.text() | st.binary())
def test_text_events_do_not_depend_on_chunking(data: st.DataObject, content: str | bytes) -> None:
    """Feeding text split anywhere (even mid-character, even invalid UTF-8) gives the same text."""
    payload = content.encode() if isinstance(content, str) else content
    chunks = data.draw(chunkings(payload))

    events = run(TextDecoder(), chunks)

    assert text_of(events) == payload.decode("utf-8", errors="replace")
    assert all(isinstance(e, TextDelta) and e.text for e in events)


@pure_property
@given(st.data(), st.lists(UNICODE, max_size=8))
def test_claude_plain_text_lines_keep_all_text(data: st.DataObject, lines: list[str]) -> None:
    """Non-JSON output split anywhere loses no text: every non-blank line comes back with ``\\n``."""
    payload = jsonl(lines)
    chunks = data.draw(chunkings(payload))

    events = run(ClaudeStreamJsonDecoder(), chunks)

    kept = (line.removesuffix("\r") for line in lines)
    assert text_of(events) == "".join(
        f"{line}\n" for line in kept if line.strip() and not _is_object(line)
    )


def _is_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


# --- long lines ---------------------------------------------------------------------------------------


def test_twenty_megabyte_line_in_small_chunks_decodes() -> None:
    """A 20 MB result line fed in 64 KiB chunks decodes in linear time."""
    answer = "é" * (10 * 1024 * 1024)  # 20 MiB of UTF-8
    payload = jsonl([result(answer)])
    decoder = ClaudeStreamJsonDecoder()

    events = [
        e for i in range(0, len(payload), CHUNK) for e in decoder.feed(payload[i : i + CHUNK])
    ]

    assert len(events) == 1
    assert isinstance(events[0], FinalResult)
    assert events[0].text == answer
    assert decoder.close() == []


def test_twenty_megabytes_of_text_in_small_chunks_decodes() -> None:
    """20 MB of plain text fed in 64 KiB chunks (split mid-character) comes back whole."""
    payload = ("🦀" * (5 * 1024 * 1024)).encode()

    events = run(TextDecoder(), split_at(payload, range(CHUNK - 1, len(payload), CHUNK)))

    assert text_of(events) == payload.decode()


@pytest.mark.parametrize("chunk_size", [1, 7, 4096, 1 << 20])
def test_overlong_line_is_dropped_once_and_later_lines_decode(chunk_size: int) -> None:
    """A line over max_line_bytes becomes exactly one Truncated; the lines around it still decode."""
    long_line = json.dumps(result("x" * 5000))
    payload = jsonl([assistant(text_block("before")), long_line, assistant(text_block("after"))])
    chunks = split_at(payload, range(chunk_size, len(payload), chunk_size))

    events = run(ClaudeStreamJsonDecoder(max_line_bytes=1000), chunks)

    assert events == [
        TextDelta("before"),
        Truncated(len(long_line), f"dropped a {len(long_line)}-byte line (max_line_bytes=1000)"),
        TextDelta("after"),
    ]


def test_overlong_unterminated_line_is_reported_at_close() -> None:
    """An over-long last line without a newline is reported once, at close()."""
    decoder = ClaudeStreamJsonDecoder(max_line_bytes=10)

    assert decoder.feed(b"a" * 6) == []
    assert decoder.feed(b"a" * 6) == []
    assert decoder.feed(b"a" * 6) == []
    (truncated,) = decoder.close()

    assert isinstance(truncated, Truncated)
    assert truncated.dropped_bytes == 18


def test_line_of_exactly_max_bytes_is_kept() -> None:
    """A line of exactly max_line_bytes (newline excluded) is decoded, one byte more is not."""
    assert claude(b"a" * 10 + b"\n", max_line_bytes=10) == [TextDelta("a" * 10 + "\n")]
    assert claude(b"a" * 11 + b"\n", max_line_bytes=10) == [
        Truncated(11, "dropped a 11-byte line (max_line_bytes=10)")
    ]


def test_strip_terminal_codes() -> None:
    """Colour (CSI) and title (OSC) escapes are removed; other text, including ESC-free text, stays."""
    from llminst._core.decoders import strip_terminal_codes

    assert strip_terminal_codes("\x1b[91mError:\x1b[0m Error code: 429") == "Error: Error code: 429"
    assert strip_terminal_codes("\x1b]0;title\x07done \x1b[2K\x1b[1Gok") == "done ok"
    assert strip_terminal_codes("plain [91m text") == "plain [91m text"
