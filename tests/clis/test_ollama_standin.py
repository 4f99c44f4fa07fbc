"""The `llama` model (ollama) through llminst's MCP tools, against the `ollama` stand-in.

The real ollama cannot be installed here (no reachable registry serves it), so
tests/support/fake_ollama.py plays it, printing the real CLI's messages. No install is needed,
so these run in the default suite.
"""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

import pytest

from llminst import BUILTIN_MODELS
from llminst._core.command import build_invocation

from ..realcli import harness
from ..realcli.harness import clean_env, stream_call
from ..support.fake_ollama import VERSION, install_fake_ollama
from ..support.models import FAST
from ..support.tools import text_of
from ..support.versions import settled_models

LLAMA = BUILTIN_MODELS["llama"]


@pytest.fixture
def ollama_env(tmp_path: Path) -> dict[str, str]:
    """PATH with the stand-in `ollama` first, and a private HOME."""
    bin_dir = tmp_path / "bin"
    install_fake_ollama(bin_dir)
    home = tmp_path / "home"
    home.mkdir()
    return clean_env(bin_dir, home, strip=("OLLAMA_", "FAKE_OLLAMA_"))


# The stand-in answers at once: retry faster than the real CLIs' tests do.
connect = functools.partial(harness.connect, backoff=FAST)
execute = functools.partial(harness.execute, backoff=FAST)


def test_llama_alone_runs_llama2_and_a_submodel_replaces_it() -> None:
    """`llama` is `ollama run llama2 PROMPT`; `llama:llama3` is `ollama run llama3 PROMPT`."""
    plain = build_invocation(LLAMA, "hi", base_env={})
    assert plain.argv == ("ollama", "run", "llama2", "hi")
    sub = build_invocation(LLAMA, "hi", base_env={}, submodel="llama3")
    assert sub.argv == ("ollama", "run", "llama3", "hi")


def test_a_prompt_starting_with_a_dash_goes_to_stdin() -> None:
    """ollama would read `-x` as a flag: such prompts reach it on stdin."""
    invocation = build_invocation(LLAMA, "-x marks the spot", base_env={})
    assert invocation.argv == ("ollama", "run", "llama2")
    assert invocation.stdin == b"-x marks the spot"


async def test_plain_answer(ollama_env: dict[str, str]) -> None:
    """A plain call returns the stand-in's answer, without ollama's trailing blank line noise."""
    result = await execute(
        ollama_env, {"model": "llama", "prompt": "why is the sky blue?", "stream": False}
    )
    assert not result.is_error, text_of(result)
    assert result.structured_content["output"].strip() == "Echo: why is the sky blue?"
    assert result.structured_content["exit_code"] == 0


async def test_prompt_from_stdin(ollama_env: dict[str, str]) -> None:
    """A dash-prefixed prompt travels over stdin and still gets its answer."""
    result = await execute(
        ollama_env, {"model": "llama", "prompt": "-v is not a flag here", "stream": False}
    )
    assert not result.is_error, text_of(result)
    assert result.structured_content["output"].strip() == "Echo: -v is not a flag here"


async def test_streamed_answer_arrives_before_the_end(ollama_env: dict[str, str]) -> None:
    """ollama writes the answer word by word: chunks reach the client while it still runs."""
    prompt = "[[ollama:slow=0.2]] one two three four"
    streamed = await stream_call(
        ollama_env,
        {"model": "llama", "prompt": prompt},
        expected=f"Echo: {prompt}\n\n",  # ollama ends with a blank line
        backoff=FAST,
    )
    assert not streamed.result.is_error, text_of(streamed.result)
    assert len(streamed.recorder.chunks) >= 4
    assert streamed.first_chunk_after < streamed.duration - 0.6


async def test_json_mode(ollama_env: dict[str, str]) -> None:
    """JSON mode through prompt instructions gives validated parsed_json."""
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    result = await execute(
        ollama_env,
        {"model": "llama", "prompt": "a number", "json_mode": True, "json_schema": schema},
    )
    assert not result.is_error, text_of(result)
    assert result.structured_content["parsed_json"] == {"n": 1}


async def test_server_not_running_says_start_ollama_serve(ollama_env: dict[str, str]) -> None:
    """`could not connect to ollama app`: process_failed, with `ollama serve` as the fix."""
    env = {**ollama_env, "FAKE_OLLAMA_DOWN": "1"}
    result = await execute(env, {"model": "llama", "prompt": "hi"})
    text = text_of(result)
    assert result.is_error and text.startswith("process_failed: "), text
    assert "could not connect to ollama app, is it running?" in text
    assert "ollama serve" in text
    assert result.structured_content["attempts"] == 1


async def test_model_not_found_says_pull_it(ollama_env: dict[str, str]) -> None:
    """`model 'X' not found`: process_failed naming the model, with `ollama pull` as the fix."""
    env = {**ollama_env, "FAKE_OLLAMA_MODELS": "llama3"}
    result = await execute(env, {"model": "llama", "prompt": "hi"})
    text = text_of(result)
    assert result.is_error and text.startswith("process_failed: "), text
    assert "model 'llama2' not found, try pulling it first" in text
    assert "ollama pull llama2" in text


async def test_submodel_runs_that_model(ollama_env: dict[str, str]) -> None:
    """`llama:llama3` runs llama3 (installed here, llama2 is not)."""
    env = {**ollama_env, "FAKE_OLLAMA_MODELS": "llama3:latest"}
    async with connect(env) as client:
        ok = await client.call_tool(
            "execute_llm", {"model": "llama:llama3", "prompt": "hi", "stream": False}
        )
        missing = await client.call_tool(
            "execute_llm", {"model": "llama:mistral", "prompt": "hi", "stream": False}
        )
    assert not ok.is_error, text_of(ok)
    assert ok.structured_content["output"].strip() == "Echo: hi"
    assert "model 'mistral' not found" in text_of(missing)


@pytest.mark.parametrize("down", [False, True])
async def test_status_reads_the_version(ollama_env: dict[str, str], down: bool) -> None:
    """get_llm_status finds `ollama` and its version, whether or not the server runs."""
    env = {**ollama_env, "FAKE_OLLAMA_DOWN": "1"} if down else ollama_env
    async with connect(env) as client:
        llama = (await settled_models(client))["llama"]
    assert llama["available"] is True
    assert llama["version"] == VERSION


# --- the stand-in itself prints ollama's real words ----------------------------------------------


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (
            ["run", "llama2", "hi"],
            {"FAKE_OLLAMA_DOWN": "1"},
            "Error: could not connect to ollama app, is it running?\n",
        ),
        (["run", "nosuch", "hi"], {}, "Error: model 'nosuch' not found, try pulling it first\n"),
    ],
)
def test_standin_error_messages(
    ollama_env: dict[str, str], argv: list[str], env: dict[str, str], expected: str
) -> None:
    """The stand-in's errors are the real CLI's exact lines, exit code 1."""
    done = subprocess.run(
        ["ollama", *argv],
        env={**ollama_env, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (1, "", expected)


@pytest.mark.parametrize(
    "line",
    [
        "Error: could not connect to ollama app, is it running?",
        "Error: model 'llama3:8b' not found, try pulling it first",
    ],
)
def test_error_hints_match_the_real_messages(line: str) -> None:
    """Each of ollama's real fatal messages matches exactly one of llama's error hints."""
    matching = [p for p in LLAMA.error_hints if re.search(p, line, re.IGNORECASE)]
    assert len(matching) == 1
