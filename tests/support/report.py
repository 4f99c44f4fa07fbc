"""The `report` fixture: a figure line shown in the test output even without ``-s``, and the
figures recorded as properties for the JUnit XML.

Under pytest-xdist (`tox -e py` runs two workers) a worker's output never reaches the terminal:
the line also travels in the test's report (`REPORT_LINE`), and `show_worker_lines` (a hook in
tests/conftest.py) prints the workers' lines at the end of the run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

REPORT_LINE = "report_line"


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str], record_property: Any) -> Callable[..., None]:
    """Show a line in the test output even without -s; record the figures for JUnit XML."""

    def show(line: str, **figures: object) -> None:
        for key, value in figures.items():
            record_property(key, value)
        record_property(REPORT_LINE, line)
        with capsys.disabled():
            print(f"\n{line}")

    return show


def worker_lines(report: pytest.TestReport) -> list[str]:
    """The report lines of a test run on an xdist worker (a report from a worker has `node`)."""
    if report.when != "call" or not hasattr(report, "node"):
        return []
    return [str(value) for key, value in report.user_properties if key == REPORT_LINE]
