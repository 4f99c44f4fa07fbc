"""Fixtures every test folder shares: helper-CLI model specs, a pidfile, the echo CLI's state,
a loaded machine (`machine_load`) and figure reports (`report`); structlog at debug level.

Before anything runs, XDG_DATA_HOME points at a folder of this session's own: every `llminst`
process the tests start records its calls there, never in the user's real call store.

Plain helpers live in tests/support/ (test modules import them from there, never from a
conftest or from one another).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from llminst._core.spec import ModelSpec

from .support.load import machine_load
from .support.paths import FAKECLI
from .support.redis import RedisServer
from .support.report import report, worker_lines

__all__ = ["echo_state", "fake_spec", "machine_load", "pidfile", "redis_server", "report"]

# Set at import, before collection: `llminst run` / `serve` processes default their call store
# to $XDG_DATA_HOME/llminst/llminst.sqlite3 (removed at the end of the session).
_SESSION_DATA_HOME = tempfile.mkdtemp(prefix="llminst-tests-data-")
os.environ["XDG_DATA_HOME"] = _SESSION_DATA_HOME

# Two shared cores under CI make wall-clock deadlines on examples meaningless.
hypothesis_settings.register_profile("default", deadline=None)
hypothesis_settings.load_profile("default")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server of this test's own on 127.0.0.1 (empty, no persistence)."""
    with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def pidfile(tmp_path: Path) -> Path:
    return tmp_path / "pids.txt"


@pytest.fixture
def fake_spec(pidfile: Path) -> Callable[..., ModelSpec]:
    """Build a ModelSpec running tests/support/fakecli.py in a given mode."""

    def build(mode: str, *args: str, name: str = "fake", **overrides: Any) -> ModelSpec:
        fields: dict[str, Any] = {
            "name": name,
            "command": (sys.executable, FAKECLI, mode, *args),
            "env": {"FAKECLI_PIDFILE": str(pidfile)},
            "timeout_category": "quick",
        }
        fields.update(overrides)
        if isinstance(fields["timeout_category"], str):
            from llminst._core.timeouts import TimeoutCategory

            fields["timeout_category"] = TimeoutCategory.parse(fields["timeout_category"])
        return ModelSpec(**fields)

    return build


@pytest.fixture
def echo_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private rate-limit counter folder for the echo CLI."""
    folder = tmp_path / "echo-state"
    monkeypatch.setenv("LLMINST_ECHO_STATE_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True, scope="session")
def _interruptible_children() -> None:
    """Give the processes the tests start a SIGINT that works, even when the suite was started
    with SIGINT ignored (a non-interactive shell does that to a command run with `&`).

    llminst keeps a signal ignored that its parent ignored (as `nohup` and shells expect), so a
    server started under an ignored SIGINT would rightly not stop on one; the signal tests need
    the default. A handled signal is reset to the default in an exec'd child; an ignored one is not.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True, scope="session")
def _debug_logging() -> None:
    """Log every event (to stderr) so structlog.testing.capture_logs sees info-level events."""
    from llminst.logs import configure_logging

    configure_logging(level="debug")


@pytest.fixture(autouse=True, scope="session")
def _session_data_home() -> Iterator[str]:
    """The session's XDG_DATA_HOME (see the top of this module), removed when the tests end."""
    yield _SESSION_DATA_HOME
    shutil.rmtree(_SESSION_DATA_HOME, ignore_errors=True)


_worker_lines: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _worker_lines.extend(worker_lines(report))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The figure lines (`report`) of tests run on xdist workers, whose output is not shown."""
    if _worker_lines:
        terminalreporter.section("figures")
        for line in _worker_lines:
            terminalreporter.write_line(line)
