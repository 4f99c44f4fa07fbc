"""Fixtures for the `realcli` tests: the installed real CLIs, the fake APIs, a private HOME.

The CLIs come from ``tests/realcli/install.py`` (``tox -e realcli`` runs it first). A test that
needs a CLI which is not installed fails with the command to run: it is never skipped. The fake
APIs and plain helpers (``harness.py``) live in tests/realcli/; pytest hands these fixtures to
every test module in this folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..realcli.fake_anthropic import FakeAnthropic
from ..realcli.fake_gemini import FakeGemini
from ..realcli.fake_openai_chat import FakeOpenAIChat
from ..realcli.fake_openai_responses import FakeResponses
from ..realcli.harness import clean_env, locate_clis
from ..realcli.install import CLIS


@pytest.fixture(scope="session")
def realcli_bin() -> Path:
    """The folder with every installed CLI (``.cache/realcli/bin``); fails if one is missing."""
    return locate_clis(list(CLIS))


@pytest.fixture
def cli_home(tmp_path: Path) -> Path:
    """A private HOME: the CLIs write session state there, never in the user's home."""
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def base_env(realcli_bin: Path, cli_home: Path) -> dict[str, str]:
    """This process's environment without credentials, with the CLIs first on PATH."""
    return clean_env(realcli_bin, cli_home)


@pytest.fixture(scope="session")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """The fake Anthropic Messages API on 127.0.0.1, one per test session."""
    with FakeAnthropic() as api:
        yield api


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAIChat]:
    """The fake OpenAI Chat Completions API on 127.0.0.1, one per test session."""
    with FakeOpenAIChat() as api:
        yield api


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    """A fake Gemini API for one test (tests count its requests)."""
    with FakeGemini() as api:
        yield api


@pytest.fixture
def fake_responses() -> Iterator[FakeResponses]:
    """A fake OpenAI Responses API for one test (tests count its requests)."""
    with FakeResponses() as api:
        yield api


@pytest.fixture
def claude_env(base_env: dict[str, str], fake_anthropic: FakeAnthropic) -> dict[str, str]:
    """The environment for the real claude against the fake API (as root: IS_SANDBOX=1)."""
    return {
        **base_env,
        "ANTHROPIC_BASE_URL": fake_anthropic.url,
        "ANTHROPIC_API_KEY": "sk-ant-fake-key-for-tests",
        "IS_SANDBOX": "1",
    }
