"""Fallbacks with the real CLIs: claude hits a limit (or has no credentials), gemini answers.

The real claude runs against a fake Anthropic API of its own (so its requests can be counted)
and the real gemini against the fake Gemini API, each with its own HOME. The limit is the one a
subscription meets (``[[fake:429-reset]]``: a 429 with the ``anthropic-ratelimit-unified-*``
headers): signed in with an OAuth token, claude 2.1 reports it as a ``rate_limit_event`` with
``resetsAt`` and "You've hit your 5-hour limit · resets 2:21pm (UTC)". Run with
``pytest -m realcli``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from ..realcli.fake_anthropic import LIMIT_RESET_S, FakeAnthropic, prompt_of
from ..realcli.fake_gemini import FakeGemini, gemini_env
from ..realcli.harness import clean_env, connect
from ..support.tools import text_of
from ..support.versions import settled_models

pytestmark = pytest.mark.realcli


@pytest.fixture
def own_anthropic() -> Iterator[FakeAnthropic]:
    """A fake Anthropic API for one test: every request it records is this test's."""
    with FakeAnthropic() as api:
        yield api


@pytest.fixture
def claude_gemini_env(
    realcli_bin: Path,
    cli_home: Path,
    tmp_path: Path,
    own_anthropic: FakeAnthropic,
    fake_gemini: FakeGemini,
) -> dict[str, str]:
    """claude signed in with a (fake) subscription token and gemini with an API key, each
    pointed at its fake API."""
    settings = cli_home / ".gemini" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}}))
    tmpdir = tmp_path / "tmp"  # gemini writes error reports to the temp folder
    tmpdir.mkdir()
    return {
        **clean_env(realcli_bin, cli_home, tmpdir=tmpdir),
        **gemini_env(fake_gemini),
        "ANTHROPIC_BASE_URL": own_anthropic.url,
        "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-fake-token-for-tests",
        "IS_SANDBOX": "1",
    }


def _claude_prompts(api: FakeAnthropic) -> list[str]:
    return [prompt_of(r.body) for r in api.requests if isinstance(r.body, dict)]


def _gemini_got(api: FakeGemini, text: str) -> bool:
    return any(text in json.dumps(r.body) for r in api.requests)


async def _ask(client: Client, prompt: str, fallbacks: list[str]) -> Any:
    return await client.call_tool(
        "execute_llm",
        {"model": "claude", "prompt": prompt, "fallbacks": fallbacks, "stream": False},
    )


async def _claude_cooldown(client: Client) -> tuple[float, str]:
    claude = (await settled_models(client))["claude"]
    assert claude["cooldown_until"] is not None, claude
    return float(claude["cooldown_until"]), str(claude["cooldown_reason"])


async def test_limit_with_reset_falls_back_to_gemini_then_skips_claude(
    claude_gemini_env: dict[str, str], own_anthropic: FakeAnthropic, fake_gemini: FakeGemini
) -> None:
    """claude's 429 with a reset time: gemini answers, claude rests until the reset, and the
    next call goes straight to gemini without starting claude."""
    question = "first question for the fallback"
    first = f"[[fake:429-reset]] {question}"
    async with connect(claude_gemini_env) as client:
        before = time.time()
        result = await _ask(client, first, ["gemini"])
        after = time.time()
        assert not result.is_error, text_of(result)
        data = result.structured_content
        assert data["model"] == "gemini"
        assert data["output"] == f"fake-gemini says: {question}"  # the fake drops markers
        assert _gemini_got(fake_gemini, first)
        [passed] = data["fallback_chain"]
        assert passed["model"] == "claude" and passed["error_kind"] == "rate_limited", passed
        assert passed["started"] is True and "hit your 5-hour limit" in passed["error"], passed
        assert _claude_prompts(own_anthropic).count(first) == 1  # claude did not retry it

        until, reason = await _claude_cooldown(client)
        # the reset the fake sent (now + 2 h, whole seconds), not a guessed 30 s rest
        assert int(before) + LIMIT_RESET_S <= until <= after + LIMIT_RESET_S, until - after
        assert "hit your 5-hour limit" in reason, reason

        claude_requests = len(own_anthropic.requests)
        second = "second question, claude resting"
        again = await _ask(client, second, ["gemini"])
        assert not again.is_error, text_of(again)
        assert again.structured_content["output"] == f"fake-gemini says: {second}"
        [skipped] = again.structured_content["fallback_chain"]
        assert skipped["model"] == "claude" and skipped["error_kind"] == "rate_limited"
        assert skipped["started"] is False and "cooling down" in skipped["error"], skipped
        assert len(own_anthropic.requests) == claude_requests  # claude was never started
        assert _gemini_got(fake_gemini, second)


async def test_limit_with_reset_and_no_fallback_is_rate_limited(
    claude_gemini_env: dict[str, str], own_anthropic: FakeAnthropic, fake_gemini: FakeGemini
) -> None:
    """Without fallbacks the same limit is ``rate_limited`` naming the reset time, and the next
    call is refused at once, without starting claude."""
    async with connect(claude_gemini_env) as client:
        result = await _ask(client, "[[fake:429-reset]] no way out", [])
        text = text_of(result)
        assert result.is_error and text.startswith("rate_limited: "), text
        assert result.structured_content["attempts"] == 1
        reset = time.strftime("%Y-%m-%dT%H", time.gmtime(time.time() + LIMIT_RESET_S))
        assert reset in text, text

        claude_requests = len(own_anthropic.requests)
        again = await _ask(client, "still resting?", [])
        text = text_of(again)
        assert again.is_error and text.startswith("rate_limited: "), text
        assert "cooling down" in text and "No process was started" in text, text
        assert len(own_anthropic.requests) == claude_requests
    assert not fake_gemini.requests


async def test_missing_credentials_falls_back_to_gemini(
    claude_gemini_env: dict[str, str], own_anthropic: FakeAnthropic, fake_gemini: FakeGemini
) -> None:
    """claude with no key and no login: credentials_missing moves the call on to gemini."""
    env = {k: v for k, v in claude_gemini_env.items() if k != "CLAUDE_CODE_OAUTH_TOKEN"}
    prompt = "who answers without claude's key?"
    async with connect(env) as client:
        result = await _ask(client, prompt, ["gemini"])
    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data["model"] == "gemini" and data["output"] == f"fake-gemini says: {prompt}"
    [passed] = data["fallback_chain"]
    assert passed["model"] == "claude" and passed["error_kind"] == "credentials_missing"
    assert "ANTHROPIC_API_KEY" in passed["error"], passed
    assert not own_anthropic.requests
    assert _gemini_got(fake_gemini, prompt)
