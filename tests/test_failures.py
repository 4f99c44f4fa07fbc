"""How a failing or stalled call ends and is worded: real processes playing what real CLIs did.

Each helper CLI plays a script (tests/support/fakecli.py ``script``) modelled on a recording or
a report from the real CLIs: codex offline repeating connection errors, claude's error result
after a streamed answer, codex's turn.failed next to an unrelated stderr warning. Calls go
through the supervisor, `llminst run` and the MCP tools.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from mcp import Client
from structlog.testing import capture_logs

from llminst import (
    BUILTIN_MODELS,
    ApiUnreachableError,
    CallTimeoutError,
    CredentialsMissingError,
    LLMError,
    ModelSpec,
    OutputFormat,
    ProcessFailedError,
    Settings,
    open_supervisor,
)
from llminst.server import ServerOptions, create_server

from .support.config import write_config
from .support.models import models_with
from .support.paths import FAKECLI, LLMINST
from .support.procs import is_alive, read_pids
from .support.tools import text_of

SETTINGS = Settings(grace_period_s=0.5)
# The stalled calls below end early within a second or so; this deadline (far enough for a
# busy machine) only bounds how long a broken early stop makes a test wait before it fails.
NO_DEADLINE = 60.0

CODEX_START = [
    {"stdout": json.dumps({"type": "thread.started", "thread_id": "t-1"})},
    {
        "stdout": json.dumps(
            {
                "type": "item.completed",
                "item": {
                    "id": "item_0",
                    "type": "error",
                    "message": "Model metadata for `gpt-fake-1` not found. Defaulting to "
                    "fallback metadata; this can degrade performance and cause issues.",
                },
            }
        )
    },
    {"stdout": json.dumps({"type": "turn.started"})},
]
WAITING_FOR_NETWORK = (
    "Reconnecting... waiting for network (Connection failed: error sending request)"
)
CONTEXT_TOO_SMALL = "request (4560 tokens) exceeds the available context size (4096 tokens)"
PATH_ALIAS_WARNING = (
    "WARNING: proceeding, even though we could not create PATH aliases: Read-only file system "
    "(os error 30)"
)


def codex_line(record: dict[str, Any]) -> dict[str, str]:
    return {"stdout": json.dumps(record)}


def codex_answer(text: str) -> list[dict[str, str]]:
    return [
        codex_line(
            {"type": "item.completed", "item": {"id": "i1", "type": "agent_message", "text": text}}
        ),
        codex_line({"type": "turn.completed", "usage": {"input_tokens": 3, "output_tokens": 2}}),
    ]


def websocket_error(second: int) -> dict[str, str]:
    """codex 0.169's stderr line for each failed WebSocket connection (as recorded offline)."""
    return {
        "stderr": f"2026-11-25T02:27:{second:02d}.299348Z ERROR "
        "codex_api::endpoint::responses_websocket: failed to connect to Responses WebSocket "
        "stage=Unknown"
    }


def claude_line(record: dict[str, Any]) -> dict[str, str]:
    return {"stdout": json.dumps(record)}


def claude_delta(text: str) -> dict[str, str]:
    event = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": text},
    }
    return claude_line({"type": "stream_event", "event": event, "parent_tool_use_id": None})


def claude_api_error(text: str) -> dict[str, str]:
    """The assistant line claude makes up to report an API failure, then its error result."""
    return claude_line(
        {
            "type": "assistant",
            "message": {
                "id": "synthetic-1",
                "model": "<synthetic>",
                "role": "assistant",
                "content": [{"type": "text", "text": text}],
            },
            "parent_tool_use_id": None,
            "error": "invalid_request",
            "is_api_error_message": True,
        }
    )


def claude_error_result(text: str) -> dict[str, str]:
    return claude_line(
        {"type": "result", "subtype": "success", "is_error": True, "result": text, "num_turns": 1}
    )


def write_script(
    tmp_path: Path, lines: list[dict[str, str]], *, exit: int | None, child: bool = False
) -> str:
    path = tmp_path / f"script-{len(list(tmp_path.glob('script-*')))}.json"
    path.write_text(json.dumps({"lines": lines, "exit": exit, "child": child}))
    return str(path)


def script_spec(
    pidfile: Path, script: str, *, base: ModelSpec | None = None, **fields: Any
) -> ModelSpec:
    """A model playing `script`: from scratch, or the built-in `base` with only its command
    (and pidfile) replaced, so its patterns, hints and decoder are the real ones."""
    command = (sys.executable, FAKECLI, "script", script)
    env = {"FAKECLI_PIDFILE": str(pidfile)}
    if base is not None:
        return attrs.evolve(base, name="fake", command=command, env=env, **fields)
    return ModelSpec(name="fake", command=command, env=env, **fields)


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

STREAMED = ["It takes two years, ", "that is 730 days ", "in 2025 days and"]


def claude_failing_after_streaming(tmp_path: Path) -> str:
    lines = [
        claude_line({"type": "system", "subtype": "init", "session_id": "s-1"}),
        claude_line(
            {"type": "stream_event", "event": {"type": "message_start", "message": {"id": "m1"}}}
        ),
        *(claude_delta(piece) for piece in STREAMED),
        claude_api_error("Prompt is too long"),
        claude_error_result("Prompt is too long"),
    ]
    return write_script(tmp_path, lines, exit=1)


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


def test_llminst_run_prints_only_the_answer_on_stdout(tmp_path: Path) -> None:
    """Regression: `llminst run` printed `...in 2025 days andPrompt is too long` on stdout."""
    script = claude_failing_after_streaming(tmp_path)
    fake = {
        "command": [sys.executable, FAKECLI, "script", script],
        "output_format": "claude-stream-json",
    }
    config = write_config(tmp_path / "llminst.toml", models={"fake": fake})
    done = subprocess.run(
        [*LLMINST, "--config", str(config), "run", "fake", "hi"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == "".join(STREAMED)
    assert (
        "llminst: process_failed: model 'fake': the CLI reported a failure with exit code 1; "
        "the CLI's result line says: Prompt is too long"
    ) in done.stderr


# --- 4. the CLI's structured error is preferred over an unrelated stderr tail --------------------


def codex_turn_failed(tmp_path: Path) -> str:
    lines = [
        {"stderr": PATH_ALIAS_WARNING},
        *CODEX_START,
        codex_line({"type": "error", "message": CONTEXT_TOO_SMALL}),
        codex_line({"type": "turn.failed", "error": {"message": CONTEXT_TOO_SMALL}}),
    ]
    return write_script(tmp_path, lines, exit=1)


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


async def test_mcp_errors_carry_the_same_messages(tmp_path: Path, pidfile: Path) -> None:
    """Through execute_llm: the kind, then the message; the structured result has the kind."""
    codex = script_spec(pidfile, codex_turn_failed(tmp_path), base=BUILTIN_MODELS["codex"])
    stalled = attrs.evolve(
        script_spec(
            pidfile,
            write_script(
                tmp_path, [{"stderr": "fetch failed: getaddrinfo ENOTFOUND api"}] * 3, exit=None
            ),
        ),
        name="stalled",
    )
    options = ServerOptions(models=models_with(codex, stalled), settings=SETTINGS)
    async with Client(create_server(options)) as client:
        failed = await client.call_tool("execute_llm", {"model": "fake", "prompt": "hi"})
        unreachable = await client.call_tool(
            "execute_llm", {"model": "stalled", "prompt": "hi", "timeout": NO_DEADLINE}
        )
    failed_text = text_of(failed)
    assert failed.is_error and failed_text.startswith(
        "process_failed: model 'fake': the CLI reported a failure (turn.failed) with exit code "
        f"1; the CLI's result line says: {CONTEXT_TOO_SMALL}; stderr ends with:"
    ), failed_text
    assert failed.structured_content["output"] == ""
    text = text_of(unreachable)
    assert unreachable.is_error and text.startswith(
        "api_unreachable: model 'stalled': stopped the CLI after it printed the same connection "
        "error 3 times on stderr without answering: 'fetch failed: getaddrinfo ENOTFOUND api'."
    ), text
    assert unreachable.structured_content["error_kind"] == "api_unreachable"


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
