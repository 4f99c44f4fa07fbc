"""Fixtures for the supervisor tests: `counted` makes models that count their own starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llminst import ModelSpec

from ..support.counting import SpecMaker, counting_echo


@pytest.fixture
def counted(tmp_path: Path, echo_state: Path) -> SpecMaker:
    """`counted(name, **fields)`: the echo model as `name`, counting its starts in `tmp_path`
    (`support.counting.spawns(tmp_path, name)`), with a private rate-limit counter folder."""

    def make(name: str, **overrides: Any) -> ModelSpec:
        return counting_echo(tmp_path, name, **overrides)

    return make
