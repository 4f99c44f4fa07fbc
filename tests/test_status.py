"""Model status: executables, versions, credential names (never values), hints."""

from __future__ import annotations

import os
import sys

import trio

from llminst import ModelSpec, open_supervisor
from llminst._core.status import parse_version

from .conftest import models_with


def test_parse_version() -> None:
    """The first version-looking token is the version; otherwise the first line."""
    assert parse_version("2.1.197 (Claude Code)\n") == "2.1.197"
    assert parse_version("llm, version 0.36\n") == "0.36"
    assert parse_version("openai 1.109.1") == "1.109.1"
    assert parse_version("weird build\nmore") == "weird build"
    assert parse_version("") is None


async def test_status_reports_found_and_missing_executables() -> None:
    """echo is available with its version; a missing CLI has a hint saying how to install it."""
    ghost = ModelSpec(name="ghost", command=("no-such-cli-xyz",), install_hint="pip install ghost")
    async with open_supervisor(models=models_with(ghost)) as sup:
        statuses = {s.model: s for s in await sup.status()}
    echo = statuses["echo"]
    assert echo.available and echo.executable_path == sys.executable
    assert echo.version == "0.1.0" and echo.hint is None
    assert echo.timeout_category == "quick" and echo.max_concurrency == 64
    assert not statuses["ghost"].available
    assert statuses["ghost"].hint == "'no-such-cli-xyz' not found: pip install ghost"


async def test_status_names_credentials_but_never_their_values() -> None:
    """Credential variables are listed by name; their values appear nowhere in the status."""
    spec = ModelSpec(
        name="keyed",
        command=(sys.executable, "-c", "pass"),
        credential_env=("FAKE_API_KEY", "OTHER_KEY"),
        auth_hint="set FAKE_API_KEY",
    )
    env = {**os.environ, "FAKE_API_KEY": "sk-very-secret-value-123"}
    async with open_supervisor(models=models_with(spec), base_env=env) as sup:
        (status,) = [s for s in await sup.status() if s.model == "keyed"]
    assert status.credentials_set == ["FAKE_API_KEY"]
    assert status.credentials_missing == ["OTHER_KEY"]
    assert "sk-very-secret" not in repr(status.to_dict())


async def test_slow_version_probe_does_not_hold_up_status() -> None:
    """A CLI whose version flag hangs costs the status at most the probe timeout."""
    slow = ModelSpec(
        name="slow",
        command=(sys.executable,),
        version_command=(sys.executable, "-c", "import time; time.sleep(30)"),
    )
    async with open_supervisor(models=models_with(slow)) as sup:
        start = trio.current_time()
        statuses = {s.model: s for s in await sup.status(version_timeout_s=0.5)}
        elapsed = trio.current_time() - start
    assert statuses["slow"].available and statuses["slow"].version is None
    assert elapsed < 2.0


async def test_probe_runs_a_tiny_prompt() -> None:
    """probe=True runs a real prompt on available models and reports ok or the error."""
    failing = ModelSpec(name="failing", command=(sys.executable, "-c", "import sys; sys.exit(3)"))
    async with open_supervisor(models=models_with(failing)) as sup:
        statuses = {s.model: s for s in await sup.status(probe=True)}
    assert statuses["echo"].probe == "ok"
    assert statuses["failing"].probe is not None
    assert statuses["failing"].probe.startswith("process_failed: ")
    assert all(s.probe is None for s in statuses.values() if not s.available)
