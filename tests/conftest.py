"""Shared fixtures: helper-CLI model specs, a pidfile, and a supervisor factory."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llminst._core.config import BUILTIN_MODELS, ModelSpec

FAKECLI = str(Path(__file__).parent / "support" / "fakecli.py")


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


def models_with(*specs: ModelSpec) -> dict[str, ModelSpec]:
    return {**BUILTIN_MODELS, **{s.name: s for s in specs}}


# Two shared cores under CI make wall-clock deadlines on examples meaningless.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("default", deadline=None)
_hypothesis_settings.load_profile("default")


@pytest.fixture(autouse=True, scope="session")
def _debug_logging() -> None:
    """Log every event (to stderr) so structlog.testing.capture_logs sees info-level events."""
    from llminst.logs import configure_logging

    configure_logging(level="debug")
