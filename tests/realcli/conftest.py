"""Fixtures for the `realcli` tests: the installed real CLIs, the fake APIs, a private HOME.

The CLIs come from ``tests/realcli/install.py`` (``tox -e realcli`` runs it first). A test that
needs a CLI which is not installed fails with the command to run: it is never skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .fake_anthropic import FakeAnthropic
from .install import CACHE, CLIS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# Variables a developer's shell may carry that would point a CLI at a real account or API.
_LEAKY_PREFIXES = ("ANTHROPIC_", "CLAUDE_", "OPENAI_", "GEMINI_", "GOOGLE_", "CODEX_", "LLM_")


@pytest.fixture(scope="session")
def realcli_bin() -> Path:
    """The folder with every installed CLI (``.cache/realcli/bin``); fails if one is missing."""
    bin_dir = CACHE / "bin"
    missing = [cli.name for cli in CLIS.values() if not (bin_dir / cli.executable).exists()]
    if missing:
        pytest.fail(
            f"real CLIs not installed: {', '.join(missing)}; run "
            "`python tests/realcli/install.py` (tox -e realcli does it)",
            pytrace=False,
        )
    return bin_dir


@pytest.fixture(scope="session")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """The fake Anthropic Messages API on 127.0.0.1, one per test session."""
    with FakeAnthropic() as api:
        yield api


@pytest.fixture
def cli_home(tmp_path: Path) -> Path:
    """A private HOME: the CLIs write session state there, never in the user's home."""
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def base_env(realcli_bin: Path, cli_home: Path) -> dict[str, str]:
    """This process's environment without credentials, with the CLIs first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_LEAKY_PREFIXES)}
    env.pop("IS_SANDBOX", None)
    env["PATH"] = f"{realcli_bin}{os.pathsep}{env.get('PATH', os.defpath)}"
    env["HOME"] = str(cli_home)
    return env


@pytest.fixture
def claude_env(base_env: dict[str, str], fake_anthropic: FakeAnthropic) -> dict[str, str]:
    """The environment for the real claude against the fake API (as root: IS_SANDBOX=1)."""
    return {
        **base_env,
        "ANTHROPIC_BASE_URL": fake_anthropic.url,
        "ANTHROPIC_API_KEY": "sk-ant-fake-key-for-tests",
        "IS_SANDBOX": "1",
    }


def installed_version(name: str) -> str:
    """The pinned version install.py put in place (from paths.json)."""
    paths = json.loads((CACHE / "paths.json").read_text())
    return str(paths[name]["version"])
