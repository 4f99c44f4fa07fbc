"""The five MCP tools through the SDK's in-memory client (direct and JSON-RPC modes)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from llminst import BUILTIN_MODELS, CallResult, ModelSpec
from llminst.server import ExecuteResult

from ..support.paths import FAKECLI
from ..support.procs import is_alive, read_pids, wait_for_pids
from ..support.progress import ProgressRecorder
from ..support.tools import CONTRACT, call_fields, connect, text_of
from ..support.versions import settled_models


async def test_tools_match_the_public_contract(mode: str) -> None:
    """The tools exist with the contract's parameters and an output schema each."""
    async with connect(mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == set(CONTRACT)
    for name, params in CONTRACT.items():
        assert list(tools[name].input_schema["properties"]) == params
        assert tools[name].output_schema is not None
        assert tools[name].description
    assert tools["execute_llm"].input_schema["required"] == ["prompt"]
    assert tools["execute_llm"].input_schema["properties"]["model"]["default"] == "claude"


def test_execute_result_mirrors_call_result() -> None:
    """The MCP output schema carries every field of CallResult, and result_truncated."""
    fields = {a.name for a in attrs.fields(CallResult)}
    assert set(ExecuteResult.model_fields) == fields | {"result_truncated"}


async def test_execute_llm_returns_text_and_structured_result(mode: str) -> None:
    """Text content holds the output; structured content the whole result."""
    async with connect(mode) as client:
        result = await client.call_tool("execute_llm", {"model": "echo", "prompt": "hi there"})
    assert not result.is_error
    assert text_of(result) == "hi there"
    data = call_fields(result.structured_content)
    assert data["output"] == "hi there" and data["success"] is True
    assert data["exit_code"] == 0 and data["attempts"] == 1 and data["truncated"] is False
    assert data["timeout_category"] == "quick" and data["timeout_s"] == 60
    assert data["parsed_json"] is None


async def test_execute_llm_streams_progress_before_the_end(mode: str) -> None:
    """With a progress callback, chunks arrive while the CLI runs and concatenate to the output."""
    recorder = ProgressRecorder()
    first_at: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        first_at.append(trio.current_time())
        await recorder(progress, total, message)

    async with connect(mode) as client:
        start = trio.current_time()
        result = await client.call_tool(
            "execute_llm",
            {"model": "echo", "prompt": "[[echo:delay=0.3]] a b c d"},
            progress_callback=on_progress,
        )
        end = trio.current_time()
        await recorder.wait_for_text(result.structured_content["output"])
    assert min(first_at) - start < (end - start) - 0.6


async def test_stream_llm_sends_keepalives_while_the_cli_is_silent(mode: str) -> None:
    """A silent CLI still produces progress notifications (message None) every keepalive_s."""
    recorder = ProgressRecorder()
    async with connect(mode, keepalive_s=0.2) as client:
        result = await client.call_tool(
            "stream_llm",
            {"model": "echo", "prompt": "[[echo:sleep=1.1]] late"},
            progress_callback=recorder,
        )
        await recorder.wait_for_text("late")
    assert not result.is_error and text_of(result) == "late"
    messages = [m for _, m in recorder.ordered]
    first_text = next(i for i, m in enumerate(messages) if m is not None)
    assert first_text >= 4, messages


async def test_stream_llm_coalesces_a_fast_cli(mode: str) -> None:
    """Thousands of tiny writes reach the client as a few notifications, text intact."""
    words = " ".join(f"w{i}" for i in range(3000))
    recorder = ProgressRecorder()
    async with connect(mode) as client:
        result = await client.call_tool(
            "stream_llm",
            {"model": "echo", "prompt": f"[[echo:delay=0]] {words}"},
            progress_callback=recorder,
        )
        await recorder.wait_for_text(words)
    assert text_of(result) == words
    assert len(recorder.chunks) < 300


async def test_json_mode_default_and_custom_schema(mode: str) -> None:
    """JSON mode fills parsed_json; a schema passed as JSON text or as an object both work."""
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    async with connect(mode) as client:
        default = await client.call_tool(
            "execute_llm", {"model": "echo", "prompt": "2+2?", "json_mode": True}
        )
        as_text = await client.call_tool(
            "execute_llm",
            {"model": "echo", "prompt": "n?", "json_mode": True, "json_schema": json.dumps(schema)},
        )
        as_object = await client.call_tool(
            "execute_llm",
            {"model": "echo", "prompt": "n?", "json_mode": True, "json_schema": schema},
        )
    assert default.structured_content["parsed_json"] == {"question": "2+2?", "answer": "echo: 2+2?"}
    assert json.loads(text_of(default)) == default.structured_content["parsed_json"]
    assert as_text.structured_content["parsed_json"] == {"n": 0}
    assert as_object.structured_content["parsed_json"] == {"n": 0}


def _fake(name: str, *argv: str, **fields: Any) -> ModelSpec:
    return ModelSpec(name=name, command=(sys.executable, FAKECLI, *argv), **fields)


ERROR_CASES = [
    ("unknown_model", {"model": "nope", "prompt": "x"}, ["known models:", "echo"]),
    ("cli_not_found", {"model": "ghost", "prompt": "x"}, ["no-such-cli-xyz", "pip install ghost"]),
    ("credentials_missing", {"model": "loggedout", "prompt": "x"}, ["LLMINST_ECHO_LOGGED_OUT"]),
    (
        "rate_limited",
        {
            "model": "echo",
            "prompt": "[[echo:rate-limit=9]] [[echo:reset-in=7200]] x",
            "timeout": 30,
        },
        ["resets", "after the call's deadline"],
    ),
    (
        "timeout",
        {"model": "echo", "prompt": "[[echo:delay=0.3]] one two three four five six", "timeout": 1},
        ["timed out after 1 s", "--- partial output ---", "one two"],
    ),
    (
        "process_failed",
        {"model": "echo", "prompt": "[[echo:exit=4]]"},
        ["exited with code 4", "failing with exit code 4"],
    ),
    (
        "invalid_json_schema",
        {"model": "echo", "prompt": "x", "json_schema": "{nope"},
        ["not valid JSON"],
    ),
    (
        "invalid_json_schema",
        {"model": "echo", "prompt": "x", "json_schema": {"type": 12}},
        ["type"],
    ),
    (
        "json_not_found",
        {"model": "prose", "prompt": "x", "json_mode": True},
        ["--- raw output ---", "no JSON here"],
    ),
    (
        "json_schema_mismatch",
        {"model": "wrong", "prompt": "x", "json_mode": True},
        ["--- raw output ---", '{"question": 1}'],
    ),
    ("invalid_input", {"model": "echo", "prompt": "x", "timeout": -1}, ["timeout must be"]),
]


@pytest.mark.parametrize(("kind", "args", "needles"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
async def test_every_failure_is_a_readable_tool_error(
    mode: str, kind: str, args: dict[str, Any], needles: list[str], echo_state
) -> None:
    """Each failure is isError with text starting with its kind, never the SDK's opaque error."""
    ghost = ModelSpec(name="ghost", command=("no-such-cli-xyz",), install_hint="pip install ghost")
    logged_out = ModelSpec(
        name="loggedout",
        command=(sys.executable, "-m", "llminst.echo"),
        prompt_separator="--",
        env={"LLMINST_ECHO_LOGGED_OUT": "1"},
        auth_patterns=("not logged in",),
        auth_hint="unset LLMINST_ECHO_LOGGED_OUT",
    )
    prose = _fake("prose", "say", "no JSON here")
    wrong = _fake("wrong", "say", '{"question": 1}')
    async with connect(mode, ghost, logged_out, prose, wrong) as client:
        result = await client.call_tool("execute_llm", args)
        # Another account than echo's: the rate_limited case leaves echo cooling down.
        still_serving = await client.call_tool("execute_llm", {"model": "prose", "prompt": "ok"})
    text = text_of(result)
    assert result.is_error
    assert text.startswith(f"{kind}: "), text
    assert "Error executing tool" not in text
    for needle in needles:
        assert needle in text, (needle, text)
    # Structured content on errors conforms to the output schema (TypeScript clients check it).
    assert ExecuteResult.model_validate(result.structured_content).error_kind == kind
    assert result.structured_content["success"] is False
    assert not still_serving.is_error


async def test_json_mode_errors_name_what_the_client_has(mode: str) -> None:
    """A JSON-mode failure says the raw output follows (and is the result's output), never
    "raw_output" or "candidate", which exist only on the library's exception (regression)."""
    async with connect(
        mode, _fake("prose", "say", "no JSON here"), _fake("wrong", "say", '{"question": 1}')
    ) as client:
        not_found = await client.call_tool(
            "execute_llm", {"model": "prose", "prompt": "x", "json_mode": True}
        )
        mismatch = await client.call_tool(
            "execute_llm", {"model": "wrong", "prompt": "x", "json_mode": True}
        )
    for result, raw in ((not_found, "no JSON here"), (mismatch, '{"question": 1}')):
        text = text_of(result)
        message, _, block = text.partition("\n--- raw output ---\n")
        assert message.endswith("; the raw output follows and is the result's output"), text
        assert block == raw and result.structured_content["output"] == raw
        for where in (text, result.structured_content["error"]):
            assert "raw_output" not in where and "candidate" not in where, where
    assert 'first value found: {"question": 1}, at $: ' in text_of(mismatch)


async def test_bad_argument_types_get_a_validation_message(mode: str) -> None:
    """Wrong argument types are refused as invalid_input naming the argument (more cases in
    test_mcp_arguments.py)."""
    async with connect(mode) as client:
        result = await client.call_tool("execute_llm", {"model": "echo", "prompt": 12})
    assert result.is_error and text_of(result) == "invalid_input: prompt: expected a string, got 12"


async def test_client_cancellation_kills_the_process_tree(mode: str, tmp_path) -> None:
    """Cancelling a call on the client kills its whole tree; the server goes on serving."""
    pidfile = tmp_path / "pids"
    tree = _fake("tree", "hang-tree", env={"FAKECLI_PIDFILE": str(pidfile)})
    async with connect(mode, tree) as client:
        async with trio.open_nursery() as nursery:

            async def call() -> None:
                await client.call_tool("execute_llm", {"model": "tree", "prompt": "x"})

            nursery.start_soon(call)
            pids = await wait_for_pids(pidfile, 2)
            nursery.cancel_scope.cancel()
        with trio.fail_after(5):
            while [p for p in pids if is_alive(p)]:  # noqa: ASYNC110 (other processes)
                await trio.sleep(0.02)
        after = await client.call_tool("execute_llm", {"model": "echo", "prompt": "next"})
    assert text_of(after) == "next"
    assert read_pids(pidfile) == pids


async def test_concurrent_calls_run_together(mode: str, tmp_path: Path) -> None:
    """Eight calls through one client run at the same time: all eight processes are alive at
    once (counted, not timed, so a loaded machine cannot fail it)."""
    pidfile = tmp_path / "pids"
    hang = _fake("hang", "hang", env={"FAKECLI_PIDFILE": str(pidfile)}, max_concurrency=8)
    async with connect(mode, hang) as client, trio.open_nursery() as nursery:
        for i in range(8):
            nursery.start_soon(client.call_tool, "execute_llm", {"model": "hang", "prompt": str(i)})
        pids = await wait_for_pids(pidfile, 8, within_s=60)
        assert all(is_alive(p) for p in pids)
        nursery.cancel_scope.cancel()
    with trio.fail_after(10):
        while [p for p in pids if is_alive(p)]:  # noqa: ASYNC110 (other processes)
            await trio.sleep(0.02)


async def test_get_llm_status_names_credentials_only(mode: str) -> None:
    """Status covers every model, with hints and credential names, never values.

    How long it waits for version commands is pinned on a virtual clock in test_status.py; here
    the versions are read once they have settled, so a loaded machine cannot fail the test.
    """
    keyed = ModelSpec(
        name="keyed", command=(sys.executable, "-c", "pass"), credential_env=("DEMO_API_KEY",)
    )
    env = {**os.environ, "DEMO_API_KEY": "sk-secret-value-987"}
    async with connect(mode, keyed, base_env=env) as client:
        models = await settled_models(client)
        result = await client.call_tool("get_llm_status", {})
    data = result.structured_content
    assert set(models) == set(BUILTIN_MODELS) | {"keyed"}
    assert models["echo"]["available"] and models["echo"]["version"] == "0.1.0"
    assert "echo" in data["available"]
    assert models["keyed"]["credentials_set"] == ["DEMO_API_KEY"]
    assert "sk-secret-value-987" not in json.dumps(data) + json.dumps(models) + text_of(result)
    for name in data["unavailable"]:
        assert models[name]["hint"]


async def test_estimate_tokens(mode: str) -> None:
    """estimate_tokens returns the core's estimate and its method."""
    async with connect(mode) as client:
        result = await client.call_tool(
            "estimate_tokens", {"text": "hello world " * 50, "model": "gpt-4"}
        )
    data = result.structured_content
    assert data["characters"] == 600 and 80 <= data["tokens"] <= 140
    assert data["method"].startswith("heuristic")


async def test_configure_llm_adds_updates_and_validates(mode: str) -> None:
    """A model configured at runtime runs; bad input is refused with the cause."""
    shout = [sys.executable, "-c", "import sys; print(sys.argv[-1].upper(), end='')"]
    async with connect(mode) as client:
        added = await client.call_tool("configure_llm", {"model": "shout", "command": shout})
        ran = await client.call_tool("execute_llm", {"model": "shout", "prompt": "hey"})
        updated = await client.call_tool(
            "configure_llm",
            {
                "model": "shout",
                "command": shout,
                "timeout_category": "long",
                "rate_limit_patterns": ["slow down"],
            },
        )
        bad_category = await client.call_tool(
            "configure_llm", {"model": "x", "command": ["a"], "timeout_category": "forever"}
        )
        empty = await client.call_tool("configure_llm", {"model": "x", "command": []})
        bad_regex = await client.call_tool(
            "configure_llm", {"model": "x", "command": ["a"], "rate_limit_patterns": ["(unclosed"]}
        )
        missing = await client.call_tool(
            "configure_llm", {"model": "later", "command": "not-installed-cli --flag"}
        )
        status = await client.call_tool("get_llm_status", {})
    assert added.structured_content["created"] is True and text_of(ran) == "HEY"
    assert updated.structured_content["created"] is False
    assert updated.structured_content["timeout_category"] == "long"
    assert updated.structured_content["rate_limit_patterns"] == ["slow down"]
    assert bad_category.is_error and "quick, normal, long, extended" in text_of(bad_category)
    assert empty.is_error and "command" in text_of(empty)
    assert bad_regex.is_error and "regular expression" in text_of(bad_regex)
    assert not missing.is_error
    assert missing.structured_content["command"] == ["not-installed-cli", "--flag"]
    assert "not on PATH" in missing.structured_content["warnings"][0]
    assert "later" in status.structured_content["unavailable"]


async def test_configure_llm_updates_only_the_keys_given(mode: str) -> None:
    """Omitted keys keep their value: an update needs no command, and leaves the timeout
    category alone (regression: it was required, and the category fell back to normal)."""
    shout = [sys.executable, "-c", "import sys; print(sys.argv[-1].upper(), end='')"]
    async with connect(mode) as client:
        await client.call_tool(
            "configure_llm", {"model": "shout", "command": shout, "timeout_category": "long"}
        )
        updated = await client.call_tool(
            "configure_llm", {"model": "shout", "rate_limit_patterns": ["slow down"]}
        )
        ran = await client.call_tool("execute_llm", {"model": "shout", "prompt": "still me"})
        builtin = await client.call_tool(
            "configure_llm", {"model": "echo", "timeout_category": "extended"}
        )
    assert not updated.is_error, text_of(updated)
    assert updated.structured_content["created"] is False
    assert updated.structured_content["command"] == shout
    assert updated.structured_content["timeout_category"] == "long"
    assert updated.structured_content["rate_limit_patterns"] == ["slow down"]
    assert text_of(ran) == "STILL ME" and ran.structured_content["timeout_s"] == 600
    assert builtin.structured_content["command"] == list(BUILTIN_MODELS["echo"].command)
    assert builtin.structured_content["timeout_category"] == "extended"


async def test_configure_llm_needs_a_command_for_a_new_model(mode: str) -> None:
    """A new model without a command is refused, saying what to send and which models exist."""
    async with connect(mode) as client:
        result = await client.call_tool("configure_llm", {"model": "brand-new"})
        status = await client.call_tool("get_llm_status", {})
    text = text_of(result)
    assert result.is_error
    assert text.startswith("config: configure_llm: brand-new: "), text
    assert "needs 'command'" in text and '["mycli", "--flag"]' in text, text
    assert "claude, codex, echo" in text, text
    assert "brand-new" not in {m["model"] for m in status.structured_content["models"]}


async def test_configure_llm_names_the_key_of_an_unsplittable_command(mode: str) -> None:
    """A command string a shell could not split is refused under its key path, like the others."""
    async with connect(mode) as client:
        result = await client.call_tool("configure_llm", {"model": "x", "command": "'unclosed"})
    assert text_of(result).startswith("config: configure_llm: x.command: cannot split"), text_of(
        result
    )


async def test_configure_llm_can_be_disabled(mode: str) -> None:
    """With allow_configure off (remote clients by default), configure_llm refuses and says how."""
    async with connect(mode, allow_configure=False) as client:
        result = await client.call_tool("configure_llm", {"model": "x", "command": ["a"]})
    assert result.is_error and "--allow-configure" in text_of(result)


async def test_configure_llm_keeps_to_the_allowlist(mode: str, tmp_path: Path) -> None:
    """With an allowlist, configure_llm accepts its executables (by name, path or symlink) and
    refuses others, a version command outside it, and env that loads other code."""
    link = tmp_path / "my-true"
    link.symlink_to(shutil.which("true") or "/bin/true")
    async with connect(mode, allowed_commands=("true",)) as client:

        async def configure(command: list[str], **extra: Any) -> Any:
            return await client.call_tool(
                "configure_llm", {"model": "x", "command": command, **extra}
            )

        by_name = await configure(["true", "--anything"])
        by_link = await configure([str(link)])
        other = await configure(["sh", "-c", "echo pwned"])
        missing = await configure(["no-such-cli-anywhere"])
        version = await configure(["true"], version_command=["sh", "-c", "id"])
        preload = await configure(["true"], env={"LD_PRELOAD": "/tmp/x.so", "OK_VAR": "1"})
        harmless = await configure(["true"], env={"OK_VAR": "1"})
    assert not by_name.is_error and not by_link.is_error and not harmless.is_error
    assert other.is_error and "'sh'" in text_of(other) and "--allow-command" in text_of(other)
    assert missing.is_error and "not found on PATH" in text_of(missing)
    assert version.is_error and "version_command 'sh'" in text_of(version)
    assert preload.is_error and "LD_PRELOAD" in text_of(preload)
    assert "OK_VAR" not in text_of(preload)


async def test_configure_llm_takes_every_spec_field(mode: str) -> None:
    """Spec fields are typed parameters: stdin prompts, env, attempts; bad values name the fix."""
    dump = [sys.executable, FAKECLI, "dump"]
    async with connect(mode) as client:
        configured = await client.call_tool(
            "configure_llm",
            {
                "model": "piped",
                "command": dump,
                "prompt_mode": "stdin",
                "env": {"X_FLAG": "1"},
                "max_attempts": 5,
            },
        )
        ran = await client.call_tool("execute_llm", {"model": "piped", "prompt": "via stdin"})
        bad = await client.call_tool(
            "configure_llm", {"model": "piped", "command": dump, "prompt_mode": "sideways"}
        )
    assert not configured.is_error
    dumped = json.loads(text_of(ran))
    assert dumped["argv"] == [] and dumped["stdin"] == "dmlhIHN0ZGlu"  # base64 of "via stdin"
    assert bad.is_error and "argv, stdin" in text_of(bad)
