"""Tests for the gemini stream-json and codex JSON-lines decoders, over the real CLIs' output.

The fixtures in tests/fixtures/{gemini,codex}/ are the raw stdout, stderr and exit code of
gemini-cli 0.61.0 and codex 0.169.0 run against the fake API servers in tests/realcli/ (see the
README in each folder). The same fixtures check that the built-in specs' auth and rate-limit
patterns recognise what the CLIs really print, and nothing else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llminst._core.builtins import BUILTIN_MODELS
from llminst._core.decoders import CodexJsonlDecoder, GeminiStreamJsonDecoder, make_decoder
from llminst._core.events import (
    ErrorNotice,
    Event,
    FinalResult,
    RetryNotice,
    TextDelta,
    Truncated,
)
from llminst._core.jsonmode import extract_json
from llminst._core.ratelimit import detect_rate_limit
from llminst._core.schemas import parse_schema
from llminst._core.spec import OutputFormat

from ..support.decoding import (
    chunkings,
    jsonl,
    malformed_records,
    non_text,
    pure_property,
    run,
    text_of,
)
from ..support.paths import FIXTURES

GEMINI = BUILTIN_MODELS["gemini"]
CODEX = BUILTIN_MODELS["codex"]


def fixture(cli: str, name: str, stream: str = "stdout") -> bytes:
    return (FIXTURES / cli / f"{name}.{stream}").read_bytes()


def exit_code(cli: str, name: str) -> int:
    return int((FIXTURES / cli / f"{name}.exit").read_text())


def gemini(data: bytes, **kwargs: Any) -> list[Event]:
    return run(GeminiStreamJsonDecoder(**kwargs), [data])


def codex(data: bytes, **kwargs: Any) -> list[Event]:
    return run(CodexJsonlDecoder(**kwargs), [data])


def final_of(events: Iterable[Event]) -> FinalResult:
    (final,) = [e for e in events if isinstance(e, FinalResult)]
    return final


def said(cli: str, name: str, events: list[Event]) -> str:
    """What the supervisor searches for patterns: text, errors, stderr and an error result."""
    final = [e.text for e in events if isinstance(e, FinalResult) and e.is_error and e.text]
    errors = [e.message for e in events if isinstance(e, ErrorNotice)]
    stderr = fixture(cli, name, "stderr").decode()
    return "\n".join([text_of(events), *errors, stderr, *final])


def matches(patterns: Iterable[str], text: str) -> list[str]:
    return [p for p in patterns if re.search(p, text, re.IGNORECASE)]


GEMINI_FIXTURES = sorted(p.stem for p in (FIXTURES / "gemini").glob("*.stdout"))
CODEX_FIXTURES = sorted(p.stem for p in (FIXTURES / "codex").glob("*.stdout"))


# --- gemini: recorded runs ----------------------------------------------------------------------


def test_gemini_plain_run_gives_deltas_and_a_final_result_with_stats() -> None:
    """A plain run: assistant deltas are the text; result gives stats as usage and the session id."""
    events = gemini(fixture("gemini", "plain"))

    assert [type(e) for e in events] == [TextDelta, TextDelta, TextDelta, FinalResult]
    assert text_of(events) == "fake-gemini says: Say hello [[x]]"
    final = final_of(events)
    assert final.text == "fake-gemini says: Say hello [[x]]"
    assert (final.is_error, final.subtype) == (False, "success")
    assert final.session_id == "836be4fc-cb99-4e86-933b-7d111c09519f"
    assert final.usage is not None
    assert (final.usage["input_tokens"], final.usage["output_tokens"]) == (6, 27)
    assert final.cost_usd is None


def test_gemini_streams_each_delta_as_it_comes() -> None:
    """The slow run's eight deltas come out one by one, in order, before the result."""
    events = gemini(fixture("gemini", "stream_slow"))

    assert [e.text for e in events if isinstance(e, TextDelta)] == [
        "fak", "e-g", "emi", "ni ", "say", "s: ", "Cou", "nt",
    ]  # fmt: skip
    assert events[-1] == final_of(events)


def test_gemini_json_mode_output_yields_the_validated_value() -> None:
    """The JSON-mode run's text is the answer, which extract_json validates."""
    schema = parse_schema(None)

    final = final_of(gemini(fixture("gemini", "json_mode")))

    assert final.text is not None
    assert extract_json(final.text, schema) == {
        "question": "question: What is 2+2?",
        "answer": "answer: What is 2+2?",
    }


def test_gemini_submodel_run_decodes_the_same() -> None:
    """With -m the init line names the model; the decoding is unchanged."""
    assert final_of(gemini(fixture("gemini", "submodel"))).text == "fake-gemini says: Hi"


def test_gemini_429_is_an_error_result_the_rate_limit_patterns_catch() -> None:
    """A 429 (exit 173) ends in an error result; the spec sees a rate limit, not missing auth.

    Its message ends "switch to another /auth method": the auth patterns must not match it.
    """
    events = gemini(fixture("gemini", "rate_limit_429"))

    final = final_of(events)
    assert final.is_error
    assert final.subtype == "unknown"
    assert final.text is not None
    assert final.text.startswith("[API Error: You have exhausted your daily quota on this model.]")
    assert exit_code("gemini", "rate_limit_429") == 429 % 256
    text = said("gemini", "rate_limit_429", events)
    assert matches(GEMINI.auth_patterns, text) == []
    hit = detect_rate_limit(text, GEMINI.rate_limit_patterns, now=0.0)
    assert hit is not None
    assert hit.retry_after_s == 37  # "Please retry in 37s." on stderr


def test_gemini_500_is_an_error_result_that_is_neither_auth_nor_rate_limit() -> None:
    """A 500 (after the CLI's ten attempts, exit 244) is a plain failure."""
    events = gemini(fixture("gemini", "server_error_500"))

    final = final_of(events)
    assert final.is_error
    assert final.text is not None
    assert '"code":500' in final.text
    assert exit_code("gemini", "server_error_500") == 500 % 256
    text = said("gemini", "server_error_500", events)
    assert matches(GEMINI.auth_patterns, text) == []
    assert detect_rate_limit(text, GEMINI.rate_limit_patterns, now=0.0) is None


@pytest.mark.parametrize("name", ["no_key", "invalid_auth_method"])
def test_gemini_missing_auth_exits_41_with_a_message_the_auth_patterns_catch(name: str) -> None:
    """Without a key or auth method gemini prints nothing on stdout and exits 41."""
    assert gemini(fixture("gemini", name)) == []
    assert exit_code("gemini", name) == 41
    assert matches(GEMINI.auth_patterns, fixture("gemini", name, "stderr").decode())


def test_gemini_untrusted_folder_gets_its_error_hint() -> None:
    """Exit 55 in an untrusted folder: an error hint names GEMINI_CLI_TRUST_WORKSPACE."""
    stderr = fixture("gemini", "untrusted_folder", "stderr").decode()

    assert exit_code("gemini", "untrusted_folder") == 55
    assert matches(GEMINI.auth_patterns, stderr) == []
    (fix,) = [fix for p, fix in GEMINI.error_hints.items() if re.search(p, stderr, re.I)]
    assert "GEMINI_CLI_TRUST_WORKSPACE" in fix


@pytest.mark.parametrize("name", ["plain", "stream_slow", "json_mode", "submodel"])
def test_gemini_stderr_noise_is_not_an_error(name: str) -> None:
    """Successful runs print notices on stderr ("YOLO mode is enabled"); none matches a pattern."""
    stderr = fixture("gemini", name, "stderr").decode()

    assert exit_code("gemini", name) == 0
    assert matches((*GEMINI.auth_patterns, *GEMINI.rate_limit_patterns), stderr) == []


# --- gemini: record handling --------------------------------------------------------------------

INIT = {"type": "init", "timestamp": "t", "session_id": "s-1", "model": "auto"}
USER = {"type": "message", "timestamp": "t", "role": "user", "content": "the prompt"}


def g_delta(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "timestamp": "t",
        "role": "assistant",
        "content": text,
        "delta": True,
    }


def g_result(status: str = "success") -> dict[str, Any]:
    return {"type": "result", "timestamp": "t", "status": status, "stats": {"total_tokens": 3}}


def test_gemini_user_messages_tools_and_unknown_lines_give_nothing() -> None:
    """The echoed prompt, tool lines and unknown types are ignored."""
    records = [
        INIT,
        USER,
        {"type": "tool_use", "tool_name": "ls", "tool_id": "t1", "parameters": {}},
        {"type": "tool_result", "tool_id": "t1", "status": "success", "output": "x"},
        {"type": "something_new"},
        {"type": "message", "role": "assistant", "content": ""},
        {"type": "message", "role": "assistant", "content": 42},
    ]

    assert gemini(jsonl(records)) == []


def test_gemini_error_lines_become_error_notices() -> None:
    """A mid-run ``error`` line is an ErrorNotice; the run may still succeed."""
    records = [
        INIT,
        {"type": "error", "severity": "warning", "message": "Loop detected"},
        g_delta("ok"),
        g_result(),
    ]

    events = gemini(jsonl(records))

    assert events[0] == ErrorNotice("Loop detected")
    assert final_of(events) == FinalResult(
        text="ok", subtype="success", usage={"total_tokens": 3}, session_id="s-1"
    )


def test_gemini_error_result_without_a_message_keeps_what_it_has() -> None:
    """An error result without error.message reports the error object, or the text so far."""
    odd = {**g_result("error"), "error": {"type": "x", "code": 7}}
    bare = g_result("error")

    (first,) = non_text(gemini(jsonl([odd])))
    (second,) = non_text(gemini(jsonl([g_delta("partial"), bare])))

    assert first == FinalResult(
        text='{"type": "x", "code": 7}', is_error=True, subtype="x", usage={"total_tokens": 3}
    )
    assert isinstance(second, FinalResult)
    assert (second.text, second.is_error, second.subtype) == ("partial", True, "error")


def test_gemini_plain_text_lines_pass_through() -> None:
    """Non-JSON lines on stdout are kept as text with their newline."""
    events = gemini(b"Loaded cached credentials.\n" + jsonl([g_delta("hi"), g_result()]))

    assert text_of(events) == "Loaded cached credentials.\nhi"


def test_gemini_long_lines_are_truncated() -> None:
    """A line over max_line_bytes becomes one Truncated; the lines around it still decode."""
    data = jsonl([g_delta("a"), g_delta("x" * 500), g_delta("b"), g_result()])

    events = gemini(data, max_line_bytes=200)

    assert text_of(events) == "ab"
    (truncated,) = [e for e in events if isinstance(e, Truncated)]
    assert truncated.dropped_bytes > 500


# --- codex: recorded runs -----------------------------------------------------------------------

MODEL_METADATA_WARNING = ErrorNotice(
    "Model metadata for `gpt-fake-1` not found. Defaulting to fallback metadata; "
    "this can degrade performance and cause issues."
)


def test_codex_plain_run_gives_the_message_and_a_final_result_with_usage() -> None:
    """thread.started gives the session id, the agent message the text, turn.completed usage."""
    events = codex(fixture("codex", "plain"))

    assert events == [
        MODEL_METADATA_WARNING,
        TextDelta("fake-openai says: Say hello"),
        FinalResult(
            text="fake-openai says: Say hello",
            subtype="turn.completed",
            usage={
                "input_tokens": 2,
                "cached_input_tokens": 0,
                "cache_write_input_tokens": 0,
                "output_tokens": 6,
                "reasoning_output_tokens": 0,
            },
            session_id="01a21087-2388-7151-9ad1-a5aca5b87b50",
        ),
    ]


def test_codex_prints_whole_messages_even_when_the_api_streams() -> None:
    """The slow (streamed) run still yields the message once, at the end."""
    events = codex(fixture("codex", "stream_slow"))

    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("fake-openai says: Count")]


def test_codex_json_mode_output_yields_the_validated_value() -> None:
    """The JSON-mode run's final text is the answer, which extract_json validates."""
    final = final_of(codex(fixture("codex", "json_mode")))

    assert final.text is not None
    assert extract_json(final.text, parse_schema(None)) == {
        "question": "question: What is 2+2?",
        "answer": "answer: What is 2+2?",
    }


def test_codex_429_is_a_failed_turn_the_rate_limit_patterns_catch() -> None:
    """A 429 past codex's retries: an error line, then turn.failed; exit 1."""
    events = codex(fixture("codex", "rate_limit_429"))

    final = final_of(events)
    assert final.is_error
    assert final.subtype == "turn.failed"
    assert final.text == "exceeded retry limit, last status: 429 Too Many Requests"
    assert exit_code("codex", "rate_limit_429") == 1
    text = said("codex", "rate_limit_429", events)
    assert matches(CODEX.auth_patterns, text) == []
    assert detect_rate_limit(text, CODEX.rate_limit_patterns, now=0.0) is not None


def test_codex_retrying_a_429_itself_is_a_retry_notice_then_success() -> None:
    """codex honours Retry-After and retries: "Reconnecting... 1/1" then the answer."""
    events = codex(fixture("codex", "rate_limit_429_then_ok"))

    notices = [e for e in events if isinstance(e, RetryNotice)]
    assert len(notices) == 1
    assert "Reconnecting... 1/1" in notices[0].message
    assert not final_of(events).is_error
    assert final_of(events).text == "fake-openai says: Hi"


def test_codex_500_is_a_failed_turn_that_is_neither_auth_nor_rate_limit() -> None:
    """A 500 is reported as "We're currently experiencing high demand" (exit 1)."""
    events = codex(fixture("codex", "server_error_500"))

    final = final_of(events)
    assert final.is_error
    assert final.text is not None
    assert "experiencing high demand" in final.text
    text = said("codex", "server_error_500", events)
    assert matches(CODEX.auth_patterns, text) == []
    assert detect_rate_limit(text, CODEX.rate_limit_patterns, now=0.0) is None


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no_key", "Missing environment variable: `OPENAI_API_KEY`."),
        ("invalid_key_401", "unexpected status 401 Unauthorized: Incorrect API key provided"),
    ],
)
def test_codex_missing_or_wrong_key_is_a_failed_turn_the_auth_patterns_catch(
    name: str, message: str
) -> None:
    """No key for the provider's env_key, or a 401: turn.failed naming it; exit 1."""
    events = codex(fixture("codex", name))

    final = final_of(events)
    assert final.is_error
    assert final.text is not None
    assert final.text.startswith(message)
    assert exit_code("codex", name) == 1
    assert matches(CODEX.auth_patterns, said("codex", name, events))


def test_codex_offline_reconnecting_is_retry_notices_and_an_error_at_the_end() -> None:
    """Offline, codex reconnects forever (killed here): notices, then close() reports the error."""
    events = codex(fixture("codex", "offline_default_provider"))

    notices = [e for e in events if isinstance(e, RetryNotice)]
    assert len(notices) == 18
    assert all(n.message.startswith("codex is retrying: Reconnecting...") for n in notices)
    final = final_of(events)
    assert events[-1] == final
    assert (final.is_error, final.subtype) == (True, "error")
    assert final.text is not None
    assert final.text.startswith("Reconnecting... waiting for network")


@pytest.mark.parametrize("name", ["plain", "stream_slow", "json_mode", "rate_limit_429_then_ok"])
def test_codex_stderr_noise_is_not_an_error(name: str) -> None:
    """Successful runs print "Reading additional input from stdin..."; no pattern matches it."""
    stderr = fixture("codex", name, "stderr").decode()

    assert exit_code("codex", name) == 0
    assert matches((*CODEX.auth_patterns, *CODEX.rate_limit_patterns), stderr) == []


# --- codex: record handling ---------------------------------------------------------------------


def message(text: str, item_id: str = "item_1") -> dict[str, Any]:
    return {
        "type": "item.completed",
        "item": {"id": item_id, "type": "agent_message", "text": text},
    }


TURN_DONE = {"type": "turn.completed", "usage": {"input_tokens": 1, "output_tokens": 2}}


def test_codex_several_messages_are_separated_and_the_last_is_the_answer() -> None:
    """Messages before tool calls stream too, a blank line apart; the final text is the last one."""
    records = [
        {"type": "thread.started", "thread_id": "th"},
        {"type": "turn.started"},
        message("Let me look.", "item_0"),
        {"type": "item.started", "item": {"id": "item_1", "type": "command_execution"}},
        {"type": "item.completed", "item": {"id": "item_1", "type": "command_execution"}},
        {"type": "item.completed", "item": {"id": "item_2", "type": "reasoning", "text": "hm"}},
        message("Done.", "item_3"),
        TURN_DONE,
    ]

    events = codex(jsonl(records))

    assert text_of(events) == "Let me look.\n\nDone."
    assert final_of(events) == FinalResult(
        text="Done.",
        subtype="turn.completed",
        usage={"input_tokens": 1, "output_tokens": 2},
        session_id="th",
    )


def test_codex_error_then_turn_failed_gives_one_final_result() -> None:
    """An error line followed by turn.failed: one ErrorNotice and one FinalResult, nothing at close."""
    records = [
        {"type": "error", "message": "boom"},
        {"type": "turn.failed", "error": {"message": "boom"}},
    ]

    assert codex(jsonl(records)) == [
        ErrorNotice("boom"),
        FinalResult(text="boom", is_error=True, subtype="turn.failed"),
    ]


def test_codex_turn_failed_without_a_message_uses_the_last_error() -> None:
    """turn.failed without error.message reports the last error line, else the error object."""
    with_error = [{"type": "error", "message": "first"}, {"type": "turn.failed"}]

    assert final_of(codex(jsonl(with_error))).text == "first"
    assert final_of(codex(jsonl([{"type": "turn.failed", "error": 3}]))).text == "3"


def test_codex_output_without_a_turn_result_or_error_has_no_final_result() -> None:
    """Output cut off mid-turn (no error seen) yields no FinalResult: the exit code decides."""
    events = codex(jsonl([{"type": "thread.started", "thread_id": "t"}, message("partial")]))

    assert events == [TextDelta("partial")]


def test_codex_plain_text_and_long_lines() -> None:
    """Non-JSON lines pass through as text; an over-long line is one Truncated."""
    data = b"WARNING: something\n" + jsonl([message("x" * 500), message("ok"), TURN_DONE])

    events = codex(data, max_line_bytes=200)

    assert text_of(events) == "WARNING: something\nok"
    assert len([e for e in events if isinstance(e, Truncated)]) == 1


def test_make_decoder_knows_gemini_and_codex() -> None:
    """make_decoder builds the new decoders from their OutputFormat values."""
    assert isinstance(make_decoder(OutputFormat.GEMINI_STREAM_JSON), GeminiStreamJsonDecoder)
    assert isinstance(make_decoder(OutputFormat.CODEX_JSONL), CodexJsonlDecoder)
    assert OutputFormat("gemini-stream-json") is OutputFormat.GEMINI_STREAM_JSON
    assert OutputFormat("codex-jsonl") is OutputFormat.CODEX_JSONL


# --- properties (hypothesis) ----------------------------------------------------------------------


@pure_property
@given(st.data(), st.sampled_from(GEMINI_FIXTURES))
def test_gemini_fixture_events_do_not_depend_on_chunking(data: st.DataObject, name: str) -> None:
    """Every recorded gemini output, split anywhere, decodes exactly as when fed whole."""
    payload = fixture("gemini", name)

    assert run(GeminiStreamJsonDecoder(), data.draw(chunkings(payload))) == gemini(payload)


@pure_property
@given(st.data(), st.sampled_from(CODEX_FIXTURES))
def test_codex_fixture_events_do_not_depend_on_chunking(data: st.DataObject, name: str) -> None:
    """Every recorded codex output, split anywhere, decodes exactly as when fed whole."""
    payload = fixture("codex", name)

    assert run(CodexJsonlDecoder(), data.draw(chunkings(payload))) == codex(payload)


KNOWN_TYPES = [
    "init", "message", "result", "error", "tool_use", "tool_result",
    "thread.started", "turn.started", "item.completed", "turn.completed", "turn.failed",
]  # fmt: skip
KNOWN_KEYS = [
    "type", "role", "content", "delta", "status", "stats", "error", "message", "session_id",
    "thread_id", "item", "text", "usage", "severity",
]  # fmt: skip
RECORDS = malformed_records(
    KNOWN_TYPES,
    KNOWN_KEYS,
    [*KNOWN_TYPES, "assistant", "user", "success", "agent_message", "Reconnecting"],
)


@pure_property
@given(st.lists(RECORDS, max_size=8), st.sampled_from(["gemini", "codex"]), st.data())
def test_malformed_records_never_raise(
    records: list[dict[str, Any]], which: str, data: st.DataObject
) -> None:
    """Records of known types with fields of any shape never raise, however they are chunked."""
    payload = jsonl(records)
    decoder = GeminiStreamJsonDecoder if which == "gemini" else CodexJsonlDecoder

    whole = run(decoder(), [payload])

    assert all(isinstance(e, TextDelta | FinalResult | RetryNotice | ErrorNotice) for e in whole)
    assert run(decoder(), data.draw(chunkings(payload))) == whole
    assert len([e for e in whole if isinstance(e, FinalResult)]) <= len(records) + 1


def test_fixtures_are_what_the_readme_says() -> None:
    """Each fixture has its stdout, stderr and exit code; JSON stdout lines are objects."""
    for cli, names in (("gemini", GEMINI_FIXTURES), ("codex", CODEX_FIXTURES)):
        assert (FIXTURES / cli / "README.md").is_file()
        for name in names:
            exit_code(cli, name)
            fixture(cli, name, "stderr")
            for line in fixture(cli, name).decode().splitlines():
                if line.startswith("{") and not name.startswith("output_"):
                    assert isinstance(json.loads(line), dict), (cli, name, line)
