"""The real claude CLI (npm @anthropic-ai/claude-code) through llminst's MCP tools, offline.

Each test runs the installed binary against the fake Anthropic API (tests/realcli) with its own
HOME. Run with ``tox -e realcli`` (installs the CLIs) or ``pytest -m realcli``. Set
``LLMINST_REALCLI_RECORD=1`` to rewrite the recorded outputs in tests/fixtures/claude/.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from mcp import Client, StdioServerParameters

from llminst import BUILTIN_MODELS
from llminst._core.command import build_invocation

from ..realcli.fake_anthropic import FakeAnthropic
from ..realcli.harness import connect, execute, installed_version, run_invocation, stream_call
from ..support.paths import FIXTURES
from ..support.progress import ProgressRecorder
from ..support.recordings import decode_summary, load_fixture
from ..support.tools import text_of
from ..support.versions import settled_models

pytestmark = pytest.mark.realcli

CLAUDE = BUILTIN_MODELS["claude"]
RECORD = os.environ.get("LLMINST_REALCLI_RECORD") == "1"


async def test_plain_answer(claude_env: dict[str, str]) -> None:
    """A plain call: the answer, the session id, usage and cost from the result line."""
    result = await execute(
        claude_env, {"model": "claude", "prompt": "hello from llminst", "stream": False}
    )
    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert text_of(result) == data["output"] == "Echo: hello from llminst"
    assert data["success"] is True and data["exit_code"] == 0 and data["attempts"] == 1
    assert data["session_id"] and len(data["session_id"]) == 36
    assert data["cost_usd"] > 0
    assert data["usage"]["input_tokens"] == 12


async def test_streamed_answer_arrives_before_the_end(claude_env: dict[str, str]) -> None:
    """--include-partial-messages: text deltas reach the client while claude still runs."""
    prompt = "[[fake:slow=0.2]] one two three four five"
    streamed = await stream_call(
        claude_env, {"model": "claude", "prompt": prompt}, expected=f"Echo: {prompt}"
    )
    result = streamed.result
    assert not result.is_error, text_of(result)
    assert text_of(result) == f"Echo: {prompt}"
    assert len(streamed.recorder.chunks) >= 4
    assert streamed.first_chunk_after < streamed.duration - 0.8


async def test_json_mode_uses_the_native_json_schema_flag(
    claude_env: dict[str, str], fake_anthropic: FakeAnthropic
) -> None:
    """claude 2.1 lists --json-schema: the schema goes there and parsed_json is validated."""
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
    }
    prompt = "Largest city in France? (native json test)"
    result = await execute(
        claude_env, {"model": "claude", "prompt": prompt, "json_mode": True, "json_schema": schema}
    )
    assert not result.is_error, text_of(result)
    parsed = result.structured_content["parsed_json"]
    assert parsed == {"city": f"answer to: {prompt}", "population": 1}
    asked = [r.body for r in fake_anthropic.requests if _prompt(r.body) == prompt]
    assert asked, "the prompt reached the API without llminst's JSON instructions"
    assert any(t["name"] == "StructuredOutput" for t in asked[0]["tools"])


async def test_a_huge_flag_like_prompt_and_a_system_prompt_arrive_intact(
    claude_env: dict[str, str], fake_anthropic: FakeAnthropic
) -> None:
    """The prompt travels as a stream-json user message on stdin: over 128 KiB (more than one
    argument can hold) and starting with '--' it reaches the API whole, beside the system
    prompt given by --append-system-prompt."""
    prompt = "--not-a-flag " + "stream-json input ✓ " * 8_000  # ~170 KB of UTF-8
    result = await execute(
        claude_env,
        {
            "model": "claude",
            "prompt": prompt,
            "system_prompt": "Answer as a pirate.",
            "stream": False,
        },
    )
    assert not result.is_error, text_of(result)
    # The echoed answer (~160,000 characters) is over the result cap: its first piece comes
    # in the result, flagged; the rest is read by offset (tests/server/test_jobs.py).
    structured = result.structured_content
    assert structured is not None and structured["result_truncated"] is True
    assert f"Echo: {prompt}".startswith(structured["output"]) and structured["output"]
    asked = [r.body for r in fake_anthropic.requests if _prompt(r.body) == prompt]
    assert asked, "the API never saw the whole prompt"
    assert "Answer as a pirate." in json.dumps(asked[0]["system"])


async def test_json_mode_falls_back_to_prompt_instructions(claude_env: dict[str, str]) -> None:
    """Without native flags (a CLI whose --help lacks them) the prompt carries the schema."""
    spec = attrs.evolve(CLAUDE, json_schema_args=("--no-such-json-flag", "{schema}"))
    result = await execute(
        claude_env,
        {"model": "claude", "prompt": "Say hi as JSON", "json_mode": True, "stream": False},
        spec,
    )
    assert not result.is_error, text_of(result)
    assert result.structured_content["parsed_json"] == {
        "question": "fake answer",
        "answer": "fake answer",
    }


async def test_rate_limit_ends_as_rate_limited(claude_env: dict[str, str]) -> None:
    """A 429 that never clears: claude's one internal retry shows, llminst retries, gives up."""
    spec = attrs.evolve(CLAUDE, max_attempts=2)
    recorder = ProgressRecorder()
    async with connect(claude_env, spec) as client:
        result = await client.call_tool(
            "execute_llm",
            {"model": "claude", "prompt": "[[fake:429]] busy?"},
            progress_callback=recorder,
        )
    assert result.is_error
    text = text_of(result)
    assert text.startswith("rate_limited: "), text
    assert "429" in text
    data = result.structured_content
    assert data["error_kind"] == "rate_limited" and data["attempts"] == 2


async def test_rate_limit_recovers_when_llminst_retries(claude_env: dict[str, str]) -> None:
    """With claude's own retries off, llminst's retry succeeds once the API recovers."""
    spec = attrs.evolve(CLAUDE, env={"CLAUDE_CODE_MAX_RETRIES": "0"})
    result = await execute(
        claude_env,
        {"model": "claude", "prompt": "[[fake:429-once]] llminst retry", "stream": False},
        spec,
    )
    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data["attempts"] == 2 and data["output"] == "Echo: [[fake:429-once]] llminst retry"


async def test_usage_limit_reports_the_reset_time(claude_env: dict[str, str]) -> None:
    """'Claude AI usage limit reached|<epoch>': rate_limited at once, with the reset time."""
    result = await execute(claude_env, {"model": "claude", "prompt": "[[fake:usage-limit]] more?"})
    assert result.is_error
    text = text_of(result)
    assert text.startswith("rate_limited: ") and "usage limit reached" in text, text
    assert result.structured_content["attempts"] == 1
    reset = time.strftime("%Y-%m-%dT%H", time.gmtime(time.time() + 3 * 3600))
    assert reset in text, text


async def test_missing_credentials(claude_env: dict[str, str]) -> None:
    """No API key and no login: credentials_missing, with the fix."""
    env = {k: v for k, v in claude_env.items() if k != "ANTHROPIC_API_KEY"}
    result = await execute(env, {"model": "claude", "prompt": "hi"})
    assert result.is_error
    text = text_of(result)
    assert text.startswith("credentials_missing: "), text
    assert "Not logged in" in text and "ANTHROPIC_API_KEY" in text and "/login" in text


@pytest.mark.skipif(os.geteuid() != 0, reason="claude refuses only root; this run is not root")
async def test_root_without_is_sandbox_is_a_clear_error(claude_env: dict[str, str]) -> None:
    """As root without IS_SANDBOX=1 claude refuses to start: the error says how to fix it."""
    env = {k: v for k, v in claude_env.items() if k != "IS_SANDBOX"}
    result = await execute(env, {"model": "claude", "prompt": "hi"})
    assert result.is_error
    text = text_of(result)
    assert text.startswith("process_failed: "), text
    assert "cannot be used with root" in text and "IS_SANDBOX=1" in text


async def test_server_error_is_process_failed(claude_env: dict[str, str]) -> None:
    """A 500 is not retried by llminst: process_failed with claude's own message."""
    result = await execute(claude_env, {"model": "claude", "prompt": "[[fake:500]] boom"})
    text = text_of(result)
    assert result.is_error and text.startswith("process_failed: "), text
    assert "API Error: 500" in text


@pytest.mark.usefixtures("machine_load")
async def test_status_reports_the_installed_version(claude_env: dict[str, str]) -> None:
    """get_llm_status reads `claude --version` (asked until no version is probing), also with
    every core busy."""
    async with connect(claude_env) as client:
        claude = (await settled_models(client))["claude"]
    assert claude["available"] is True
    assert claude["version"] == installed_version("claude")
    assert claude["credentials_set"] == ["ANTHROPIC_API_KEY"]


async def test_over_a_real_stdio_server(claude_env: dict[str, str], tmp_path: Path) -> None:
    """`llminst serve` as a subprocess over stdio runs the real claude (plain and JSON)."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "llminst.cli", "serve"], env=claude_env
    )
    async with Client(params) as client:
        plain = await client.call_tool(
            "execute_llm", {"model": "claude", "prompt": "over stdio", "stream": False}
        )
        assert not plain.is_error, text_of(plain)
        assert text_of(plain) == "Echo: over stdio"
        recorder = ProgressRecorder()
        streamed = await client.call_tool(
            "stream_llm",
            {"model": "claude", "prompt": "[[fake:slow=0.05]] a b c"},
            progress_callback=recorder,
        )
        assert text_of(streamed) == "Echo: [[fake:slow=0.05]] a b c"
        await recorder.wait_for_text("Echo: [[fake:slow=0.05]] a b c")


# --------------------------------------------------------------------------------------------
# Recorded outputs: the raw stdout of these scenarios, for tests/clis/test_decoders_claude_fixtures.py

SCENARIOS: dict[str, dict[str, Any]] = {
    "plain": {"prompt": "hello from llminst"},
    "stream": {"prompt": "[[fake:slow=0.02]] one two three", "stream": True},
    "json_native": {"prompt": "Largest city in France?", "schema": {"type": "object"}},
    "rate_limit_429": {"prompt": "[[fake:429]] busy?"},
    "usage_limit": {"prompt": "[[fake:usage-limit]] more?"},
    # a subscription's five-hour limit, signed in with an OAuth token: a rate_limit_event line
    "limit_reset_oauth": {
        "prompt": "[[fake:429-reset]] more?",
        "unset": "ANTHROPIC_API_KEY",
        "set": {"CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-fake-token-for-tests"},
    },
    "server_error_500": {"prompt": "[[fake:500]] boom"},
    "not_logged_in": {"prompt": "hi", "unset": "ANTHROPIC_API_KEY"},
}


def _prompt(body: Any) -> str | None:
    from ..realcli.fake_anthropic import prompt_of

    return prompt_of(body) if isinstance(body, dict) else None


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_recorded_output_still_matches(name: str, claude_env: dict[str, str]) -> None:
    """The live CLI's stdout decodes like the recorded fixture (catches format drift)."""
    scenario = SCENARIOS[name]
    env = {k: v for k, v in claude_env.items() if k != scenario.get("unset")}
    env.update(scenario.get("set", {}))
    schema = scenario.get("schema")
    invocation = build_invocation(
        CLAUDE,
        scenario["prompt"],
        base_env=env,
        stream=scenario.get("stream", False),
        json_mode=schema is not None,
        native_schema=schema,
    )
    done = run_invocation(invocation)
    live = _sanitize(done.stdout.decode(), env)
    path = FIXTURES / "claude" / f"{name}.jsonl"
    if RECORD:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(live)
    assert decode_summary(live.encode()) == decode_summary(load_fixture(name))


def _sanitize(text: str, env: Mapping[str, str]) -> str:
    """Drop what is specific to this machine and run: HOME, the fake's port, the cwd."""
    text = text.replace(env["HOME"], "/home/llminst-test")
    text = re.sub(r"/tmp/cc-socks/\d+\.sock", "/run/cc-socks/PID.sock", text)
    text = text.replace(env["ANTHROPIC_BASE_URL"].removeprefix("http://"), "127.0.0.1:PORT")
    return text.replace(json.dumps(os.getcwd())[1:-1], "/work/project")


async def test_a_warm_claude_answers_as_a_cold_one(claude_env: dict[str, str]) -> None:
    """warm = 1 on the real CLI: the process started ahead (initialized, waiting on stdin) gets
    only the user message and answers as a cold call does; the first text comes sooner (the
    figures are printed, not asserted: the machine is shared)."""
    from llminst import open_supervisor

    spec = attrs.evolve(CLAUDE, warm=1)

    async def first_text(sup: Any, prompt: str) -> tuple[float, Any]:
        started, first = time.monotonic(), None
        async with sup.open_stream("claude", prompt) as stream:
            async for _chunk in stream:
                first = first or time.monotonic()
        assert first is not None and stream.result is not None
        return first - started, stream.result

    async with open_supervisor(models={"claude": spec}, base_env=claude_env) as sup:
        cold_s, cold = await first_text(sup, "warm test one")
        with trio.fail_after(60):
            while not sup.warm_ready("claude"):  # noqa: ASYNC110 (a process, not a task)
                await trio.sleep(0.02)
        [warm_pid] = sup.warm_ready("claude")
        warm_s, warm = await first_text(sup, "warm test two")
    assert cold.output == "Echo: warm test one" and warm.output == "Echo: warm test two"
    assert warm.session_id and warm.session_id != cold.session_id
    assert warm.usage == cold.usage and warm.cost_usd == cold.cost_usd
    assert not os.path.exists(f"/proc/{warm_pid}")  # noqa: ASYNC240 - reaped after the call
    print(
        f"\nreal claude, time to first text: cold {cold_s * 1000:.0f} ms, warm {warm_s * 1000:.0f} ms"
    )
