"""The real gemini and codex CLIs through llminst's MCP tools, offline against fake APIs.

Each test runs the installed binary (npm ``@google/gemini-cli`` 0.61.0, ``@openai/codex``
0.169.0) with its own HOME and TMPDIR against a fake API from tests/realcli started for that test
on 127.0.0.1. The CLIs are found in ``$LLMINST_REALCLI_BIN``, else ``.cache/realcli/bin``
(``python tests/realcli/install.py``, which ``tox -e realcli`` runs), else a scratch
``npm install --prefix /tmp/realcli-gh``; when none has them the test fails saying how to install
them, it is never skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from llminst import BUILTIN_MODELS

from ..realcli.fake_gemini import FakeGemini, gemini_env
from ..realcli.fake_openai_responses import FakeResponses, codex_config_toml
from ..realcli.harness import clean_env, connect, execute, locate_clis, stream_call
from ..support.tools import call_fields, text_of
from ..support.versions import settled_models

pytestmark = pytest.mark.realcli

SCRATCH_BIN = Path("/tmp/realcli-gh/node_modules/.bin")


@pytest.fixture(scope="session")
def cli_bin() -> Path:
    """The folder with gemini and codex (these two alone will do, or the scratch npm prefix)."""
    return locate_clis(
        ["gemini", "codex"],
        extra=[SCRATCH_BIN],
        hint=", or `npm install --prefix /tmp/realcli-gh "
        "@google/gemini-cli@0.61.0 @openai/codex@0.169.0`",
    )


@pytest.fixture
def base_env(cli_bin: Path, cli_home: Path, tmp_path: Path) -> dict[str, str]:
    """This process's environment without credentials, a private HOME and TMPDIR, CLIs on PATH."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    # gemini writes error reports to the temp folder
    return clean_env(cli_bin, cli_home, tmpdir=tmpdir)


@pytest.fixture
def gemini_home_env(base_env: dict[str, str], fake_gemini: FakeGemini) -> dict[str, str]:
    """gemini with an API key, API-key auth selected in settings.json, and the fake's URL."""
    settings = Path(base_env["HOME"]) / ".gemini" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}}))
    return {**base_env, **gemini_env(fake_gemini)}


@pytest.fixture
def codex_home_env(base_env: dict[str, str], fake_responses: FakeResponses) -> dict[str, str]:
    """codex with a config.toml selecting the fake provider (its own retries off) and a key."""
    config = Path(base_env["HOME"]) / ".codex" / "config.toml"
    config.parent.mkdir()
    config.write_text(codex_config_toml(fake_responses, request_max_retries=0))
    return {**base_env, "OPENAI_API_KEY": "sk-fake-key-for-tests"}


# --- gemini -------------------------------------------------------------------------------------


async def test_gemini_plain_answer(gemini_home_env: dict[str, str]) -> None:
    """A plain call: the answer, the session id and the token stats from the result line."""
    result = await execute(gemini_home_env, {"model": "gemini", "prompt": "hello from llminst"})

    assert not result.is_error, text_of(result)
    data = call_fields(result.structured_content)
    assert text_of(result) == data["output"] == "fake-gemini says: hello from llminst"
    assert data["success"] is True and data["exit_code"] == 0 and data["attempts"] == 1
    assert data["session_id"] and len(data["session_id"]) == 36
    assert data["usage"]["output_tokens"] > 0 and data["cost_usd"] is None


async def test_gemini_submodel_and_flag_like_prompt(
    gemini_home_env: dict[str, str], fake_gemini: FakeGemini
) -> None:
    """gemini:MODEL reaches the API as that model; a prompt starting with '-' arrives intact."""
    result = await execute(
        gemini_home_env, {"model": "gemini:gemini-2.5-pro", "prompt": "--help is not a flag"}
    )

    assert not result.is_error, text_of(result)
    assert result.structured_content["output"] == "fake-gemini says: --help is not a flag"
    (path,) = [r.path for r in fake_gemini.requests if "streamGenerateContent" in r.path]
    assert "/models/gemini-2.5-pro:" in path


async def test_gemini_streamed_answer_arrives_before_the_end(
    gemini_home_env: dict[str, str],
) -> None:
    """gemini streams: text deltas reach the client while the CLI still runs."""
    prompt = "[[fake:slow]] one two three"
    expected = "fake-gemini says: one two three"
    streamed = await stream_call(
        gemini_home_env, {"model": "gemini", "prompt": prompt}, expected=expected
    )
    result = streamed.result
    assert not result.is_error, text_of(result)
    assert text_of(result) == expected
    assert len(streamed.recorder.chunks) >= 4
    assert streamed.first_chunk_after < streamed.duration - 1.5  # the fake streams over 2.7 s


async def test_gemini_json_mode(gemini_home_env: dict[str, str]) -> None:
    """JSON mode: the prompt carries the schema; parsed_json is the validated answer."""
    result = await execute(
        gemini_home_env, {"model": "gemini", "prompt": "What is 2+2?", "json_mode": True}
    )

    assert not result.is_error, text_of(result)
    assert result.structured_content["parsed_json"] == {
        "question": "question: What is 2+2?",
        "answer": "answer: What is 2+2?",
    }


async def test_gemini_429_ends_as_rate_limited(gemini_home_env: dict[str, str]) -> None:
    """A daily-quota 429 (exit 173, "retry in 37s"): rate_limited at once, the wait past the deadline."""
    result = await execute(
        gemini_home_env, {"model": "gemini", "prompt": "[[fake:429]] busy?", "timeout": 20}
    )

    assert result.is_error
    text = text_of(result)
    assert text.startswith("rate_limited: "), text
    assert "exhausted your daily quota" in text, text
    data = result.structured_content
    assert data["error_kind"] == "rate_limited" and data["attempts"] == 1


async def test_gemini_429_once_recovers_when_llminst_retries(
    gemini_home_env: dict[str, str], fake_gemini: FakeGemini
) -> None:
    """A 429 saying "retry in 1s": llminst waits that long and the second attempt succeeds."""
    result = await execute(
        gemini_home_env, {"model": "gemini", "prompt": "[[fake:429-once]] again"}
    )

    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data["attempts"] == 2 and data["output"] == "fake-gemini says: again"
    assert len(fake_gemini.stream_requests()) == 2


@pytest.mark.parametrize(
    ("missing", "needle"),
    [("key", "must specify the GEMINI_API_KEY"), ("auth-method", "Invalid auth method selected")],
)
async def test_gemini_missing_credentials(
    gemini_home_env: dict[str, str], missing: str, needle: str
) -> None:
    """No key (or no auth method chosen): exit 41 becomes credentials_missing with the fix."""
    env = dict(gemini_home_env)
    if missing == "key":
        del env["GEMINI_API_KEY"]
    else:
        (Path(env["HOME"]) / ".gemini" / "settings.json").unlink()

    result = await execute(env, {"model": "gemini", "prompt": "hi"})

    assert result.is_error
    text = text_of(result)
    assert text.startswith("credentials_missing: "), text
    assert needle in text and "set GEMINI_API_KEY" in text and "selectedType" in text, text


# --- codex --------------------------------------------------------------------------------------


async def test_codex_plain_answer(codex_home_env: dict[str, str]) -> None:
    """A plain call: the agent message, the thread id as session id, usage from turn.completed."""
    result = await execute(codex_home_env, {"model": "codex", "prompt": "hello from llminst"})

    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert text_of(result) == data["output"] == "fake-openai says: hello from llminst"
    assert data["success"] is True and data["exit_code"] == 0 and data["attempts"] == 1
    assert data["session_id"] and len(data["session_id"]) == 36
    assert data["usage"]["output_tokens"] > 0


async def test_codex_submodel_and_flag_like_prompt(
    codex_home_env: dict[str, str], fake_responses: FakeResponses
) -> None:
    """codex:MODEL reaches the API as that model; a prompt starting with '-' arrives intact."""
    result = await execute(codex_home_env, {"model": "codex:gpt-5", "prompt": "-v is not a flag"})

    assert not result.is_error, text_of(result)
    assert result.structured_content["output"] == "fake-openai says: -v is not a flag"
    (request,) = [r.body for r in fake_responses.requests if r.path.endswith("/responses")]
    assert request["model"] == "gpt-5"


async def test_codex_streams_whole_messages(codex_home_env: dict[str, str]) -> None:
    """codex prints whole messages, not deltas: stream_llm gets the answer as one chunk."""
    streamed = await stream_call(
        codex_home_env,
        {"model": "codex", "prompt": "[[fake:slow]] one two"},
        expected="fake-openai says: one two",
    )
    assert not streamed.result.is_error, text_of(streamed.result)
    assert streamed.recorder.chunks == ["fake-openai says: one two"]


async def test_codex_json_mode(codex_home_env: dict[str, str]) -> None:
    """JSON mode: the prompt carries the schema; parsed_json is the validated answer."""
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
    }
    result = await execute(
        codex_home_env,
        {"model": "codex", "prompt": "Largest city?", "json_mode": True, "json_schema": schema},
    )

    assert not result.is_error, text_of(result)
    assert result.structured_content["parsed_json"] == {
        "city": "city: Largest city?",
        "population": 1,
    }


async def test_codex_429_ends_as_rate_limited(codex_home_env: dict[str, str]) -> None:
    """A 429 that never clears: codex fails the turn, llminst retries, then reports it."""
    spec = attrs.evolve(BUILTIN_MODELS["codex"], max_attempts=2)
    result = await execute(codex_home_env, {"model": "codex", "prompt": "[[fake:429]] busy?"}, spec)

    assert result.is_error
    text = text_of(result)
    assert text.startswith("rate_limited: "), text
    assert "429 Too Many Requests" in text, text
    assert result.structured_content["attempts"] == 2


async def test_codex_429_once_recovers_when_llminst_retries(
    codex_home_env: dict[str, str], fake_responses: FakeResponses
) -> None:
    """With codex's own retries off, llminst's retry succeeds once the API recovers."""
    result = await execute(codex_home_env, {"model": "codex", "prompt": "[[fake:429-once]] again"})

    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data["attempts"] == 2 and data["output"] == "fake-openai says: again"
    assert len(fake_responses.requests) == 2


async def test_codex_missing_credentials(codex_home_env: dict[str, str]) -> None:
    """No OPENAI_API_KEY for the provider: credentials_missing naming it, with the fix."""
    env = {k: v for k, v in codex_home_env.items() if k != "OPENAI_API_KEY"}

    result = await execute(env, {"model": "codex", "prompt": "hi"})

    assert result.is_error
    text = text_of(result)
    assert text.startswith("credentials_missing: "), text
    assert "Missing environment variable: `OPENAI_API_KEY`" in text, text
    assert "codex login" in text, text


@pytest.mark.usefixtures("machine_load")
async def test_status_reports_both_versions(
    gemini_home_env: dict[str, str], codex_home_env: dict[str, str]
) -> None:
    """get_llm_status finds both CLIs and reads their versions (asked until no version is
    probing: `gemini --version` took 3.1 s on a loaded machine), also with every core busy."""
    async with connect({**gemini_home_env, **codex_home_env}) as client:
        models = await settled_models(client)
    assert models["gemini"]["available"] and models["codex"]["available"]
    assert models["gemini"]["version"] == "0.61.0"
    assert models["codex"]["version"] == "0.169.0"
