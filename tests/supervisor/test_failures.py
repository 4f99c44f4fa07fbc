"""How a failing or stalled call ends and is worded: real processes playing what real CLIs did.

Each helper CLI plays a script (tests/support/scripts.py) modelled on a recording or a report
from the real CLIs: codex offline repeating connection errors, claude's error result after a
streamed answer, codex's turn.failed next to an unrelated stderr warning. Calls go through the
supervisor here; the same failures through `llminst run` and the MCP tools are in
tests/command/test_failures.py and tests/server/test_failures.py.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
import trio
from structlog.testing import capture_logs

from llminst import (
    BUILTIN_MODELS,
    ApiUnreachableError,
    CallTimeoutError,
    CredentialsMissingError,
    LLMError,
    OutputFormat,
    ProcessFailedError,
    open_supervisor,
)

from ..support.models import models_with
from ..support.procs import is_alive, read_pids
from ..support.scripts import (
    CODEX_START,
    CONTEXT_TOO_SMALL,
    NO_DEADLINE,
    PATH_ALIAS_WARNING,
    SETTINGS,
    STREAMED,
    WAITING_FOR_NETWORK,
    claude_api_error,
    claude_error_result,
    claude_failing_after_streaming,
    claude_line,
    codex_answer,
    codex_line,
    codex_turn_failed,
    script_spec,
    websocket_error,
    write_script,
)


def assert_tree_gone(pidfile: Path, count: int) -> None:
    pids = read_pids(pidfile)
    assert len(pids) == count, pids
    assert not [p for p in pids if is_alive(p)]


# --- 2. repeated connection or credentials errors end the call early ----------------------------


async def test_a_repeated_connection_error_on_stderr_ends_the_call_early(
    tmp_path: Path, pidfile: Path
) -> None:
    """Three connection errors (timestamps differ) and no answer: api_unreachable long before
    the deadline, the tree (CLI and grandchild) killed, the repeated line and the fix named."""
    script = write_script(
        tmp_path,
        [{"stderr": "Starting"}, *(websocket_error(s) for s in (18, 19, 21))],
        exit=None,
        child=True,
    )
    spec = script_spec(pidfile, script)
    async with open_supervisor(models=models_with(spec), settings=SETTINGS) as sup:
        with capture_logs() as logs, pytest.raises(ApiUnreachableError) as info:
            await sup.run("fake", "hi", timeout=NO_DEADLINE)
    assert_tree_gone(pidfile, 2)
    message = str(info.value)
    assert message.startswith(
        "model 'fake': stopped the CLI after it printed the same connection error 3 times on "
        "stderr without answering: '2026-11-25T02:27:21.299348Z ERROR"
    ), message
    assert message.endswith(
        "It cannot reach its API: check the network, the CLI's API base URL and any proxy "
        "(HTTPS_PROXY)."
    ), message
    result = info.value.result
    assert result is not None and result.error_kind == "api_unreachable" and result.output == ""
    assert info.value.exit_code is not None and info.value.exit_code < 0  # killed by llminst
    assert "failed to connect to Responses WebSocket" in info.value.stderr_tail
    stops = [e for e in logs if e["event"] == "llminst.attempt.stopped_early"]
    assert [(e["reason"], e["repeats"], e["source"]) for e in stops] == [
        ("unreachable", 3, "stderr")
    ]


async def test_codex_reconnecting_forever_on_stdout_ends_the_call_early(
    tmp_path: Path, pidfile: Path
) -> None:
    """codex offline prints `{"type":"error","message":"Reconnecting... waiting for network
    (...)"}` again and again: with the built-in codex spec, api_unreachable with codex's fix."""
    lines = [*CODEX_START, *[codex_line({"type": "error", "message": WAITING_FOR_NETWORK})] * 5]
    spec = script_spec(
        pidfile, write_script(tmp_path, lines, exit=None, child=True), base=BUILTIN_MODELS["codex"]
    )
    async with open_supervisor(models=models_with(spec), settings=SETTINGS) as sup:
        with pytest.raises(ApiUnreachableError) as info:
            await sup.run("fake", "hi", timeout=NO_DEADLINE)
    assert_tree_gone(pidfile, 2)
    message = str(info.value)
    assert f"3 times in its output without answering: {WAITING_FOR_NETWORK!r}" in message
    assert "~/.codex/config.toml" in message and "HTTPS_PROXY" in message
    assert info.value.result is not None and info.value.result.output == ""


async def test_one_connection_error_then_an_answer_is_left_alone(
    tmp_path: Path, pidfile: Path
) -> None:
    """A CLI that reports a connection error once (or twice) and then answers succeeds."""
    lines = [
        *CODEX_START,
        websocket_error(18),
        codex_line({"type": "error", "message": WAITING_FOR_NETWORK}),
        codex_line({"type": "error", "message": WAITING_FOR_NETWORK}),
        *codex_answer("fake-openai says: hi"),
    ]
    spec = script_spec(pidfile, write_script(tmp_path, lines, exit=0), base=BUILTIN_MODELS["codex"])
    async with open_supervisor(models=models_with(spec), settings=SETTINGS) as sup:
        result = await sup.run("fake", "hi", timeout=NO_DEADLINE)
    assert result.success and result.output == "fake-openai says: hi"


async def test_connection_errors_after_answer_text_do_not_stop_the_call(
    tmp_path: Path, pidfile: Path
) -> None:
    """Once answer text came, the CLI evidently reaches its API: repeats no longer stop it.
    (One pipe, so the order is certain: the answer, then five connection errors, then the end.)"""
    answer, completed = codex_answer("fake-openai says: hi")
    lines = [
        *CODEX_START,
        answer,
        *[codex_line({"type": "error", "message": WAITING_FOR_NETWORK})] * 5,
        completed,
    ]
    spec = script_spec(pidfile, write_script(tmp_path, lines, exit=0), base=BUILTIN_MODELS["codex"])
    async with open_supervisor(models=models_with(spec), settings=SETTINGS) as sup:
        result = await sup.run("fake", "hi", timeout=NO_DEADLINE)
    assert result.success and result.output == "fake-openai says: hi"


async def test_a_repeated_credentials_error_ends_the_call_as_credentials_missing(
    tmp_path: Path, pidfile: Path
) -> None:
    """A repeated line matching the spec's auth patterns: credentials_missing, with the fix."""
    lines = [{"stderr": "Error: not logged in (token refresh failed), retrying"}] * 3
    spec = script_spec(
        pidfile,
        write_script(tmp_path, lines, exit=None),
        auth_patterns=(r"not logged in",),
        auth_hint="run `fake login`",
    )
    async with open_supervisor(models=models_with(spec), settings=SETTINGS) as sup:
        with pytest.raises(CredentialsMissingError) as info:
            await sup.run("fake", "hi", timeout=NO_DEADLINE)
    assert_tree_gone(pidfile, 1)
    assert str(info.value) == (
        "model 'fake': stopped the CLI after it printed the same credentials error 3 times on "
        "stderr without answering: 'Error: not logged in (token refresh failed), retrying'. "
        "Fix: run `fake login`."
    )


async def test_the_repeat_count_comes_from_settings(tmp_path: Path, pidfile: Path) -> None:
    """stop_after_repeated_errors=5 tolerates four repeats; the CLI's own exit decides."""
    lines = [{"stderr": "Error: connect ECONNREFUSED 127.0.0.1:9"}] * 4
    spec = script_spec(pidfile, write_script(tmp_path, lines, exit=7))
    settings = attrs.evolve(SETTINGS, stop_after_repeated_errors=5)
    async with open_supervisor(models=models_with(spec), settings=settings) as sup:
        with pytest.raises(ApiUnreachableError) as info:
            await sup.run("fake", "hi", timeout=NO_DEADLINE)
    assert info.value.exit_code == 7  # it exited by itself, it was not stopped
    assert "stopped the CLI" not in str(info.value)


# --- 1. a timeout with errors and no answer says what the errors suggest -------------------------


async def test_a_timeout_with_only_errors_says_what_they_suggest(
    tmp_path: Path, pidfile: Path
) -> None:
    """Regression: codex offline printed its WebSocket error 7 times in 30 s and llminst advised
    a larger timeout. The message shows the stderr tail and what it suggests (codex's spec does
    not stop on the WebSocket line, since codex falls back to HTTPS by itself). A CLI whose
    stderr suggests nothing keeps the timeout advice, with its stderr shown."""
    codex_lines = [
        *CODEX_START,
        {"stderr": "Reading additional input from stdin..."},
        *(websocket_error(s) for s in (18, 18, 19, 21, 24)),
    ]
    codex = script_spec(
        pidfile, write_script(tmp_path, codex_lines, exit=None), base=BUILTIN_MODELS["codex"]
    )
    other = attrs.evolve(
        script_spec(pidfile, write_script(tmp_path, [{"stderr": "loading weights"}], exit=None)),
        name="other",
    )
    errors: dict[str, LLMError] = {}

    async def call(model: str) -> None:
        with pytest.raises(CallTimeoutError) as info:
            await sup.run(model, "hi", timeout=8)
        errors[model] = info.value

    async with (
        open_supervisor(models=models_with(codex, other), settings=SETTINGS) as sup,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(call, "fake")
        nursery.start_soon(call, "other")

    message = str(errors["fake"])
    assert message.startswith(
        "model 'fake' timed out after 8 s (category explicit, attempt 1) before any answer "
        "text arrived; the CLI's last error notice says: Model metadata for `gpt-fake-1` not "
        "found. Defaulting to fallback metadata; this can degrade performance and cause "
        "issues.; stderr ends with:\nReading additional input from stdin...\n"
    ), message
    assert message.count("failed to connect to Responses WebSocket") == 6  # 5 lines + the quote
    assert message.endswith(
        "That suggests the CLI cannot reach its API ('2026-11-25T02:27:18.299348Z ERROR "
        "codex_api::endpoint::responses_websocket: failed to connect to Responses WebSocket "
        "stage=Unknown'); a larger timeout will not help: check the network, the base_url of "
        "the model provider in ~/.codex/config.toml (when set) and any proxy (HTTPS_PROXY)."
    ), message
    assert "Pass a larger timeout" not in message
    assert str(errors["other"]) == (
        "model 'other' timed out after 8 s (category explicit, attempt 1) before any answer "
        "text arrived; stderr ends with:\nloading weights\n"
        "If that is an error, fix its cause; otherwise pass a larger timeout."
    )


# --- 3. claude's error result keeps the streamed answer out of the error and vice versa ----------


async def test_a_claude_error_result_keeps_the_streamed_answer(
    tmp_path: Path, pidfile: Path
) -> None:
    """Regression: after 428 streamed chunks an is_error result replaced the output with its
    error text, and the error was streamed as answer text. Now the output is what streamed;
    the error text is in the error only."""
    spec = script_spec(
        pidfile,
        claude_failing_after_streaming(tmp_path),
        output_format=OutputFormat.CLAUDE_STREAM_JSON,
    )
    chunks: list[str] = []
    async with (
        open_supervisor(models=models_with(spec), settings=SETTINGS) as sup,
        sup.open_stream("fake", "hi", timeout=NO_DEADLINE) as stream,
    ):
        chunks = [chunk async for chunk in stream]
    assert chunks == STREAMED
    error = stream.error
    assert isinstance(error, ProcessFailedError)
    assert str(error) == (
        "model 'fake': the CLI reported a failure with exit code 1; the CLI's result line says: "
        "Prompt is too long"
    )
    assert stream.result.output == "".join(STREAMED)
    assert stream.result.error == str(error)


# --- 4. the CLI's structured error is preferred over an unrelated stderr tail --------------------


async def test_codex_turn_failed_names_its_cause_before_the_stderr_tail(
    tmp_path: Path, pidfile: Path
) -> None:
    """Regression: the message quoted an unrelated stderr warning while the cause sat only in
    the output. The turn.failed message comes first, then stderr; the output holds no error."""
    spec = script_spec(pidfile, codex_turn_failed(tmp_path), base=BUILTIN_MODELS["codex"])
    async with open_supervisor(models=models_with(spec), settings=SETTINGS) as sup:
        with pytest.raises(ProcessFailedError) as info:
            await sup.run("fake", "hi", timeout=NO_DEADLINE)
    assert str(info.value) == (
        "model 'fake': the CLI reported a failure (turn.failed) with exit code 1; the CLI's "
        f"result line says: {CONTEXT_TOO_SMALL}; stderr ends with:\n{PATH_ALIAS_WARNING}"
    )
    assert info.value.result is not None and info.value.result.output == ""


async def test_the_result_line_decides_the_kind_over_earlier_connection_notices(
    tmp_path: Path, pidfile: Path
) -> None:
    """codex got past a connection problem (its WebSocket fallback notice) and then failed for
    another reason: the turn.failed cause decides, so it is process_failed, not api_unreachable."""
    fallback = (
        "Falling back from WebSockets to HTTPS transport. stream disconnected before "
        "completion: failed to lookup address information: Name does not resolve"
    )
    lines = [
        *CODEX_START,
        codex_line({"type": "item.completed", "item": {"type": "error", "message": fallback}}),
        codex_line({"type": "turn.failed", "error": {"message": CONTEXT_TOO_SMALL}}),
    ]
    spec = script_spec(pidfile, write_script(tmp_path, lines, exit=1), base=BUILTIN_MODELS["codex"])
    async with open_supervisor(models=models_with(spec), settings=SETTINGS) as sup:
        with pytest.raises(LLMError) as info:
            await sup.run("fake", "hi", timeout=NO_DEADLINE)
    assert type(info.value) is ProcessFailedError, info.value
    assert CONTEXT_TOO_SMALL in str(info.value)


# --- 5. each part of a failure message says where it came from -----------------------------------

RESULT_ERROR = "API Error: 400 model 'claude-x' not found"


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        (
            "result line",
            "model 'fake': the CLI reported a failure with exit code 1; the CLI's result line "
            f"says: {RESULT_ERROR}",
        ),
        ("stderr", "model 'fake': the CLI exited with code 1; stderr ends with:\nwarning: x"),
        (
            "both",
            "model 'fake': the CLI reported a failure with exit code 1; the CLI's result line "
            f"says: {RESULT_ERROR}; stderr ends with:\nwarning: x",
        ),
        (
            "neither",
            "model 'fake': the CLI exited with code 1; it printed nothing on stderr and "
            "reported no error",
        ),
    ],
)
async def test_failure_messages_say_where_each_part_came_from(
    tmp_path: Path, pidfile: Path, said: str, expected: str
) -> None:
    """Regression: "reported an error (success) with exit code 1; stderr ends with: API
    Error: ..." although stderr was empty and the text came from claude's result line."""
    lines = [claude_line({"type": "system", "subtype": "init", "session_id": "s-1"})]
    if said in ("stderr", "both"):
        lines.append({"stderr": "warning: x"})
    if said in ("result line", "both"):
        lines += [claude_api_error(RESULT_ERROR), claude_error_result(RESULT_ERROR)]
    spec = script_spec(
        pidfile,
        write_script(tmp_path, lines, exit=1),
        output_format=OutputFormat.CLAUDE_STREAM_JSON,
    )
    async with open_supervisor(models=models_with(spec), settings=SETTINGS) as sup:
        with pytest.raises(ProcessFailedError) as info:
            await sup.run("fake", "hi", timeout=NO_DEADLINE)
    assert str(info.value) == expected
    assert "(success)" not in str(info.value)


async def test_a_refused_connection_in_the_result_line_is_api_unreachable(
    tmp_path: Path, pidfile: Path
) -> None:
    """The reported case: claude's result line says `API Error: Connection refused`, stderr
    is empty, exit 1. It is api_unreachable, worded by where the text came from, with the fix."""
    lines = [
        claude_api_error("API Error: Connection refused"),
        claude_error_result("API Error: Connection refused"),
    ]
    spec = script_spec(
        pidfile, write_script(tmp_path, lines, exit=1), base=BUILTIN_MODELS["claude"]
    )
    async with open_supervisor(models=models_with(spec), settings=SETTINGS) as sup:
        with pytest.raises(ApiUnreachableError) as info:
            await sup.run("fake", "hi", timeout=NO_DEADLINE)
    assert str(info.value) == (
        "model 'fake': the CLI reported a failure with exit code 1; the CLI's result line says: "
        "API Error: Connection refused\nThat suggests the CLI cannot reach its API: check the "
        "network, ANTHROPIC_BASE_URL (when set) and any proxy (HTTPS_PROXY)."
    )
    assert info.value.exit_code == 1
