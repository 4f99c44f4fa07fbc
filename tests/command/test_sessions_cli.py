"""`llminst run --session NAME` and `llminst sessions`, as a user runs them: the session lives
in the call store on disk, so a later command continues and lists it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

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


def test_sessions_lists_as_a_table_or_json(tmp_path: Path) -> None:
    store = ["--store", str(tmp_path / "calls.sqlite3")]
    empty = _llminst("sessions", *store)
    assert empty.returncode == 0 and empty.stdout.split() == ["NAME", "MODEL", "TURNS", "UPDATED"]
    assert json.loads(_llminst("sessions", "--json", *store).stdout) == []
    first = _llminst("run", "echo", "my name is Ada", "--session", "ada", *store)
    second = _llminst("run", "echo", "what is my name?", "--session", "ada", *store)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert "<user>\nmy name is Ada\n</user>" in second.stdout  # the next process continued it
    table = _llminst("sessions", *store)
    as_json = _llminst("sessions", "--json", *store)
    assert table.returncode == as_json.returncode == 0, table.stderr + as_json.stderr
    assert table.stdout.split()[4:7] == ["ada", "echo", "4"]
    assert [(s["name"], s["turns"]) for s in json.loads(as_json.stdout)] == [("ada", 4)]
    bad = _llminst("sessions", "--limit", "0")
    assert bad.returncode == 2 and "invalid_input: --limit must be at least 1" in bad.stderr
