"""`llminst run --session NAME` and `llminst sessions`, as a user runs them.

Until a store on disk is wired to the command line, each command has a store of its own, so
these tests check what one process can: the session named in a run, a bad name refused, and the
listing's forms.
"""

from __future__ import annotations

import json
import subprocess

from ..support.paths import LLMINST


def _llminst(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LLMINST, "--log-level", "warning", *argv], capture_output=True, text=True, timeout=120
    )


def test_run_with_a_session_answers_on_stdout_alone() -> None:
    result = _llminst("run", "echo", "hello there", "--session", "cli-1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello there\n"


def test_run_refuses_a_bad_session_name_with_its_fix() -> None:
    result = _llminst("run", "echo", "hi", "--session", "two words")
    assert result.returncode == 1 and result.stdout == ""
    assert "llminst: invalid_input: session name 'two words' is not valid" in result.stderr
    assert "Traceback" not in result.stderr


def test_sessions_lists_as_a_table_or_json() -> None:
    table = _llminst("sessions")
    as_json = _llminst("sessions", "--json")
    assert table.returncode == as_json.returncode == 0, table.stderr + as_json.stderr
    assert table.stdout.split() == ["NAME", "MODEL", "TURNS", "UPDATED"]
    assert json.loads(as_json.stdout) == []
    bad = _llminst("sessions", "--limit", "0")
    assert bad.returncode == 2 and "invalid_input: --limit must be at least 1" in bad.stderr
