"""The `report` fixture: a figure line shown in the test output even without ``-s``, and the
figures recorded as properties for the JUnit XML."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str], record_property: Any) -> Callable[..., None]:
    """Show a line in the test output even without -s; record the figures for JUnit XML."""

    def show(line: str, **figures: object) -> None:
        for key, value in figures.items():
            record_property(key, value)
        with capsys.disabled():
            print(f"\n{line}")

    return show
