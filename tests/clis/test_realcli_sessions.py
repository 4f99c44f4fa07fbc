"""Sessions continued with the real CLIs, offline against fake APIs that record every request.

Each test makes two calls of one llminst session and then reads the second call's API request:
the first turn (its prompt and the fake's answer) must be in it as earlier messages, and the new
prompt must be the last user message on its own, so the CLI itself continued its session
(claude and gemini ``--resume ID``, codex ``exec resume ID``) instead of llminst pasting a
transcript into the prompt. The openai CLI has no sessions: its earlier turns arrive as
``-g user/-g assistant`` messages. Moving a session from claude to the openai CLI hands the new
model the transcript so far.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from llminst import open_supervisor
from llminst._core.result import CallResult

from ..realcli.fake_anthropic import FakeAnthropic, prompt_of
from ..realcli.fake_gemini import FakeGemini, gemini_env
from ..realcli.fake_openai_chat import FakeOpenAIChat
from ..realcli.fake_openai_responses import FakeResponses, codex_config_toml
from ..realcli.harness import FAST

pytestmark = pytest.mark.realcli


async def _two_turns(
    env: Mapping[str, str], first_model: str, second_model: str | None = None
) -> tuple[str, CallResult, CallResult]:
    """Two calls of one new session; returns the first prompt and both results."""
    word = f"papaya-{uuid.uuid4().hex[:8]}"
    first_prompt = f"Remember the word {word}"
    async with open_supervisor(base_env=env, backoff=FAST) as supervisor:
        first = await supervisor.run(first_model, first_prompt, session=f"s-{word}")
        second = await supervisor.run(
            second_model or first_model, f"Which word for {word}?", session=f"s-{word}"
        )
        stored = await supervisor.store.get_session(f"s-{word}")
    assert first.session == second.session == f"s-{word}"
    assert stored is not None and [t.text for t in stored.turns[:2]] == [
        first_prompt,
        first.output,
    ]
    return first_prompt, first, second


def _texts(content: Any) -> str:
    """All text inside a message's content, whatever its shape (str, blocks, parts)."""
    if isinstance(content, str):
        return content
    return json.dumps(content)


# --- claude -------------------------------------------------------------------------------------


def _claude_messages(api: FakeAnthropic, last_prompt: str) -> list[dict[str, Any]]:
    for request in api.requests:
        body = request.body
        if isinstance(body, dict) and prompt_of(body) == last_prompt:
            return list(body["messages"])
    raise AssertionError(f"no request ended with {last_prompt!r}")


async def test_claude_session_resumes_its_own_conversation(
    claude_env: dict[str, str], fake_anthropic: FakeAnthropic
) -> None:
    """The second call runs `claude --resume <session_id>`: claude sends the first turn again
    as earlier messages, and the new prompt alone as the last one."""
    first_prompt, first, second = await _two_turns(claude_env, "claude")

    assert first.session_id and second.session_id == first.session_id
    second_prompt = second.output.removeprefix("Echo: ")
    messages = _claude_messages(fake_anthropic, second_prompt)
    earlier = [(m["role"], _texts(m["content"])) for m in messages[:-1]]
    assert any(role == "user" and first_prompt in text for role, text in earlier)
    assert any(role == "assistant" and first.output in text for role, text in earlier)
    assert prompt_of({"messages": messages[-1:]}) == second_prompt  # not a replayed transcript


# --- gemini -------------------------------------------------------------------------------------


@pytest.fixture
def gemini_session_env(base_env: dict[str, str], fake_gemini: FakeGemini) -> dict[str, str]:
    settings = Path(base_env["HOME"]) / ".gemini" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}}))
    return {**base_env, **gemini_env(fake_gemini)}


async def test_gemini_session_resumes_its_own_conversation(
    gemini_session_env: dict[str, str], fake_gemini: FakeGemini
) -> None:
    """The second call runs `gemini --resume <session_id>` (a UUID, safe under concurrency):
    gemini sends the first turn as earlier contents."""
    first_prompt, first, second = await _two_turns(gemini_session_env, "gemini")

    assert first.session_id and len(first.session_id) == 36
    body = fake_gemini.stream_requests()[-1]
    contents = body["contents"]
    earlier = [(c.get("role"), _texts(c.get("parts"))) for c in contents[:-1]]
    assert any(role == "user" and first_prompt in text for role, text in earlier)
    assert any(role == "model" and first.output in text for role, text in earlier)
    assert "<conversation>" not in _texts(contents[-1].get("parts"))
    assert second.output.endswith("Which word for " + first_prompt.rsplit(" ", 1)[1] + "?")


# --- codex --------------------------------------------------------------------------------------


@pytest.fixture
def codex_session_env(base_env: dict[str, str], fake_responses: FakeResponses) -> dict[str, str]:
    config = Path(base_env["HOME"]) / ".codex" / "config.toml"
    config.parent.mkdir()
    config.write_text(codex_config_toml(fake_responses, request_max_retries=0))
    return {**base_env, "OPENAI_API_KEY": "sk-fake-key-for-tests"}


async def test_codex_session_resumes_its_thread(
    codex_session_env: dict[str, str], fake_responses: FakeResponses
) -> None:
    """The first call is saved (no --ephemeral), the second runs `codex exec resume
    <thread_id>`: codex sends the first turn again as earlier input items."""
    first_prompt, first, second = await _two_turns(codex_session_env, "codex")

    assert first.session_id and second.session_id == first.session_id
    posts = [r.body for r in fake_responses.requests if isinstance(r.body, dict)]
    items = posts[-1]["input"]
    texts = [(i.get("role"), _texts(i.get("content"))) for i in items if i.get("role")]
    assert any(role == "user" and first_prompt in text for role, text in texts[:-1])
    assert any(role == "assistant" and first.output in text for role, text in texts[:-1])
    assert "<conversation>" not in texts[-1][1]


# --- openai (replay as messages) and moving between models --------------------------------------


def _chat_messages(api: FakeOpenAIChat, last_prompt: str) -> list[dict[str, Any]]:
    for request in reversed(api.requests):
        body = request.body
        messages = body.get("messages") if isinstance(body, dict) else None
        if messages and messages[-1].get("content") == last_prompt:
            return list(messages)
    raise AssertionError(f"no request ended with {last_prompt!r}")


@pytest.fixture
def openai_env(base_env: dict[str, str], fake_openai: FakeOpenAIChat) -> dict[str, str]:
    return {**base_env, "OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": "sk-fake"}


async def test_openai_cli_session_replays_turns_as_messages(
    openai_env: dict[str, str], fake_openai: FakeOpenAIChat
) -> None:
    """The openai CLI has no sessions: the second call passes `-g user FIRST -g assistant
    ANSWER -g user SECOND`, and the API gets exactly those three messages."""
    first_prompt, first, second = await _two_turns(openai_env, "gpt-4")

    second_prompt = second.output.removeprefix("Echo: ").rstrip("\n")
    assert _chat_messages(fake_openai, second_prompt) == [
        {"role": "user", "content": first_prompt},
        {"role": "assistant", "content": first.output},
        {"role": "user", "content": second_prompt},
    ]


async def test_session_moves_from_claude_to_the_openai_cli(
    claude_env: dict[str, str], fake_openai: FakeOpenAIChat
) -> None:
    """A session opened on claude continues on gpt-4: the new model gets claude's turn."""
    env = {**claude_env, "OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": "sk-fake"}
    first_prompt, first, second = await _two_turns(env, "claude", "gpt-4")

    second_prompt = second.output.removeprefix("Echo: ").rstrip("\n")
    messages = _chat_messages(fake_openai, second_prompt)
    assert messages[:2] == [
        {"role": "user", "content": first_prompt},
        {"role": "assistant", "content": first.output},
    ]
