"""The real `openai` (gpt-4) and `llm` CLIs through llminst's MCP tools, offline.

Each test runs the installed program against the fake OpenAI Chat Completions API
(tests/realcli/fake_openai_chat.py) with its own HOME. ollama cannot be installed here: its
tests run against a stand-in in the default suite (tests/clis/test_ollama_standin.py). Run with
``tox -e realcli`` (installs the CLIs) or ``pytest -m realcli``. Set ``LLMINST_REALCLI_RECORD=1``
to rewrite the recorded outputs in tests/fixtures/openai/ and tests/fixtures/llm/.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

from llminst import BUILTIN_MODELS
from llminst._core.command import build_invocation
from llminst._core.spec import split_model_name

from ..realcli.fake_openai_chat import FakeOpenAIChat, prompt_of
from ..realcli.harness import connect, execute, installed_version, run_invocation, stream_call
from ..realcli.install import CACHE
from ..support.paths import FIXTURES
from ..support.tools import text_of
from ..support.versions import settled_models

pytestmark = pytest.mark.realcli

RECORD = os.environ.get("LLMINST_REALCLI_RECORD") == "1"
# The model each CLI runs against the fake: gpt-4 is the openai CLI's default sub-model, and llm
# needs one of its OpenAI models named (its default model is whatever the user configured).
GPT4 = "gpt-4"
LLM = "llm:gpt-4o-mini"


@pytest.fixture
def openai_env(base_env: dict[str, str], fake_openai: FakeOpenAIChat) -> dict[str, str]:
    """The environment for the openai and llm CLIs against the fake API."""
    return {**base_env, "OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": "sk-fake"}


async def _streamed(env: Mapping[str, str], model: str, prompt: str) -> None:
    """stream_llm: the first chunk arrives well before the call ends."""
    streamed = await stream_call(
        env, {"model": model, "prompt": prompt}, expected=f"Echo: {prompt}\n"
    )
    assert not streamed.result.is_error, text_of(streamed.result)
    assert len(streamed.recorder.chunks) >= 4
    assert streamed.first_chunk_after < streamed.duration - 0.8


# --- gpt-4: the openai CLI ---------------------------------------------------------------------


async def test_gpt4_plain_answer(openai_env: dict[str, str], fake_openai: FakeOpenAIChat) -> None:
    """A plain call: the answer, and the request asks for gpt-4 without streaming."""
    result = await execute(openai_env, {"model": GPT4, "prompt": "hello gpt-4", "stream": False})
    assert not result.is_error, text_of(result)
    assert result.structured_content["output"] == "Echo: hello gpt-4\n"
    body = next(r.body for r in fake_openai.requests if prompt_of(r.body) == "hello gpt-4")
    assert body["model"] == "gpt-4" and not body.get("stream")


async def test_gpt4_submodel_picks_the_model(
    openai_env: dict[str, str], fake_openai: FakeOpenAIChat
) -> None:
    """gpt-4:gpt-4o runs `-m gpt-4o`."""
    result = await execute(
        openai_env, {"model": "gpt-4:gpt-4o", "prompt": "which model?", "stream": False}
    )
    assert not result.is_error, text_of(result)
    body = next(r.body for r in fake_openai.requests if prompt_of(r.body) == "which model?")
    assert body["model"] == "gpt-4o"


async def test_gpt4_streamed_answer_arrives_before_the_end(openai_env: dict[str, str]) -> None:
    """`--stream` prints each delta as it arrives."""
    await _streamed(openai_env, GPT4, "[[fake:slow=0.25]] one two three four five")


async def test_gpt4_json_mode(openai_env: dict[str, str]) -> None:
    """JSON mode through prompt instructions gives validated parsed_json."""
    result = await execute(
        openai_env, {"model": GPT4, "prompt": "Say hi as JSON", "json_mode": True}
    )
    assert not result.is_error, text_of(result)
    assert result.structured_content["parsed_json"] == {
        "question": "fake answer",
        "answer": "fake answer",
    }


@pytest.mark.parametrize("model", [GPT4, LLM])
async def test_the_system_prompt_is_the_first_message(
    model: str, openai_env: dict[str, str], fake_openai: FakeOpenAIChat, tmp_path: Path
) -> None:
    """The openai CLI (`-g system TEXT` before `-g user PROMPT`) and llm (`--system TEXT`) send
    the system prompt as the request's first message, the prompt untouched after it; the call
    runs in its cwd."""
    prompt = f"who am I talking to, {model}?"
    args = {"model": model, "prompt": prompt, "stream": False, "cwd": str(tmp_path)}
    result = await execute(openai_env, {**args, "system_prompt": "You are a pirate."})
    assert not result.is_error, text_of(result)
    body = next(r.body for r in fake_openai.requests if prompt_of(r.body) == prompt)
    roles = [(m["role"], m["content"]) for m in body["messages"]]
    assert roles == [("system", "You are a pirate."), ("user", prompt)]


async def test_gpt4_rate_limit_ends_as_rate_limited(openai_env: dict[str, str]) -> None:
    """A 429 that never clears: the SDK retries twice inside each attempt, then llminst gives up."""
    spec = attrs.evolve(BUILTIN_MODELS[GPT4], max_attempts=2)
    result = await execute(openai_env, {"model": GPT4, "prompt": "[[fake:429]] x"}, spec)
    text = text_of(result)
    assert result.is_error and text.startswith("rate_limited: "), text
    assert "Please try again in 1s" in text
    assert result.structured_content["attempts"] == 2


async def test_gpt4_rate_limit_once_is_absorbed_by_the_sdk(
    openai_env: dict[str, str], fake_openai: FakeOpenAIChat
) -> None:
    """429 once: the SDK's own retry succeeds, so llminst sees one successful attempt."""
    prompt = "[[fake:429-once]] gpt-4 retry"
    result = await execute(openai_env, {"model": GPT4, "prompt": prompt, "stream": False})
    assert not result.is_error, text_of(result)
    assert result.structured_content["attempts"] == 1
    assert sum(prompt_of(r.body) == prompt for r in fake_openai.requests) == 2


async def test_gpt4_missing_key(openai_env: dict[str, str]) -> None:
    """No OPENAI_API_KEY: the traceback's last line is reported as credentials_missing."""
    env = {k: v for k, v in openai_env.items() if k != "OPENAI_API_KEY"}
    result = await execute(env, {"model": GPT4, "prompt": "hi"})
    text = text_of(result)
    assert result.is_error and text.startswith("credentials_missing: "), text
    assert "api_key client option must be set" in text and "Fix: set OPENAI_API_KEY" in text


# --- llm (simonw) ------------------------------------------------------------------------------


async def test_llm_echo_plugin_runs_offline(openai_env: dict[str, str]) -> None:
    """llm:echo (llm-echo) needs no API: its JSON dump of the prompt is the answer."""
    result = await execute(openai_env, {"model": "llm:echo", "prompt": "-dash hi", "stream": False})
    assert not result.is_error, text_of(result)
    assert '"prompt": "-dash hi"' in result.structured_content["output"]


async def test_llm_plain_answer(openai_env: dict[str, str], fake_openai: FakeOpenAIChat) -> None:
    """llm's OpenAI model honours OPENAI_BASE_URL; --no-log keeps the prompt out of its log."""
    result = await execute(openai_env, {"model": LLM, "prompt": "hello llm", "stream": False})
    assert not result.is_error, text_of(result)
    assert result.structured_content["output"] == "Echo: hello llm\n"
    body = next(r.body for r in fake_openai.requests if prompt_of(r.body) == "hello llm")
    assert body["model"] == "gpt-4o-mini"


async def test_llm_streamed_answer_arrives_before_the_end(openai_env: dict[str, str]) -> None:
    """llm streams by default: deltas reach the client while it runs."""
    await _streamed(openai_env, LLM, "[[fake:slow=0.25]] one two three four five")


async def test_llm_json_mode(openai_env: dict[str, str]) -> None:
    """JSON mode through prompt instructions gives validated parsed_json."""
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    result = await execute(
        openai_env, {"model": LLM, "prompt": "a number", "json_mode": True, "json_schema": schema}
    )
    assert not result.is_error, text_of(result)
    assert result.structured_content["parsed_json"] == {"n": 1}


async def test_llm_rate_limit_ends_as_rate_limited(openai_env: dict[str, str]) -> None:
    """A 429 that never clears ends as rate_limited after llminst's attempts."""
    spec = attrs.evolve(BUILTIN_MODELS["llm"], max_attempts=2)
    result = await execute(openai_env, {"model": LLM, "prompt": "[[fake:429]] y"}, spec)
    text = text_of(result)
    assert result.is_error and text.startswith("rate_limited: "), text
    assert "Please try again in 1s" in text and result.structured_content["attempts"] == 2


async def test_llm_missing_key(openai_env: dict[str, str]) -> None:
    """No key: llm's "No key found" is credentials_missing with both fixes."""
    env = {k: v for k, v in openai_env.items() if k != "OPENAI_API_KEY"}
    result = await execute(env, {"model": LLM, "prompt": "hi"})
    text = text_of(result)
    assert result.is_error and text.startswith("credentials_missing: "), text
    assert "No key found" in text and "llm keys set openai" in text and "OPENAI_API_KEY" in text


async def test_llm_unknown_model(openai_env: dict[str, str]) -> None:
    """An unknown model: process_failed with llm's words and how to find or add models."""
    result = await execute(openai_env, {"model": "llm:nosuch", "prompt": "hi"})
    text = text_of(result)
    assert result.is_error and text.startswith("process_failed: "), text
    assert "Unknown model: nosuch" in text and "llm models" in text


@pytest.mark.usefixtures("machine_load")
async def test_status_reports_the_installed_versions(openai_env: dict[str, str]) -> None:
    """get_llm_status reads `openai --version` and `llm --version` (asked until no version is
    probing: `llm --version` took 1.2 s on a loaded machine), also with every core busy."""
    async with connect(openai_env) as client:
        models = await settled_models(client)
    assert models["gpt-4"]["version"] == installed_version("openai")
    assert models["llm"]["version"] == installed_version("llm")
    assert models["gpt-4"]["available"] and models["llm"]["available"]


# --------------------------------------------------------------------------------------------
# Recorded outputs: stdout and stderr of these scenarios, for tests/clis/test_openai_llm_fixtures.py

SCENARIOS: dict[str, dict[str, Any]] = {
    "plain": {"prompt": "hello from llminst"},
    "stream": {"prompt": "[[fake:slow=0.02]] one two three", "stream": True},
    "rate_limit_429": {"prompt": "[[fake:429]] busy?"},
    "server_error_500": {"prompt": "[[fake:500]] boom"},
    "no_key": {"prompt": "hi", "unset": "OPENAI_API_KEY"},
}
CLI_MODELS = {"openai": GPT4, "llm": LLM}


@pytest.mark.parametrize("cli", sorted(CLI_MODELS))
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_recorded_output_still_matches(cli: str, name: str, openai_env: dict[str, str]) -> None:
    """The live CLI prints what was recorded: stdout exactly, and the last line of stderr."""
    scenario = SCENARIOS[name]
    env = {k: v for k, v in openai_env.items() if k != scenario.get("unset")}
    base, submodel = split_model_name(CLI_MODELS[cli])
    invocation = build_invocation(
        BUILTIN_MODELS[base],
        scenario["prompt"],
        base_env=env,
        stream=scenario.get("stream", False),
        submodel=submodel,
    )
    started = time.monotonic()
    done = run_invocation(invocation)
    elapsed = time.monotonic() - started
    stdout, stderr = (_sanitize(b.decode(), openai_env) for b in (done.stdout, done.stderr))
    folder = FIXTURES / cli
    if RECORD:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.stdout").write_text(stdout)
        (folder / f"{name}.stderr").write_text(stderr)
        (folder / f"{name}.exit").write_text(f"{done.returncode}\n")
    assert stdout == (folder / f"{name}.stdout").read_text()
    assert _last_line(stderr) == _last_line((folder / f"{name}.stderr").read_text())
    assert done.returncode == int((folder / f"{name}.exit").read_text())
    assert elapsed < 30


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def _sanitize(text: str, env: Mapping[str, str]) -> str:
    """Drop what is specific to this machine and run: HOME, the install cache, the fake's port."""
    text = text.replace(env["HOME"], "/home/llminst-test")
    text = text.replace(str(Path(CACHE).resolve()), "/cache/realcli").replace(str(CACHE), "/cache")
    return text.replace(env["OPENAI_BASE_URL"].removeprefix("http://"), "127.0.0.1:PORT/v1")
