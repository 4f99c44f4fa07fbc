"""`llminst run --cwd DIR --system TEXT` as a real process: the CLI runs in DIR and receives the
system prompt; a directory that is not one is one line on stderr and exit 1, nothing on stdout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..support.config import write_config
from ..support.paths import FAKECLI, LLMINST


def _llminst(config: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = [*LLMINST, "--config", str(config), "run", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd)


def _config(tmp_path: Path) -> Path:
    pwd = {"command": [sys.executable, FAKECLI, "pwd"]}
    return write_config(tmp_path / "llminst.toml", models={"pwd": pwd})


def test_run_runs_the_cli_in_the_directory_given(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    done = _llminst(_config(tmp_path), "--cwd", str(work), "pwd", "x")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{work}\n"


def test_a_relative_cwd_is_relative_to_where_run_was_started(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    done = _llminst(_config(tmp_path), "--cwd", "work", "pwd", "x", cwd=tmp_path)
    assert done.stdout == f"{tmp_path / 'work'}\n", done.stderr


def test_run_sends_the_system_prompt(tmp_path: Path) -> None:
    """echo has no system-prompt flag: it receives the system prompt before the prompt."""
    done = _llminst(_config(tmp_path), "--system", "be brief", "echo", "hello")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "<system>\nbe brief\n</system>\n\nhello\n"


def test_a_missing_directory_is_one_line_and_exit_1(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    done = _llminst(_config(tmp_path), "--cwd", str(missing), "pwd", "x")
    assert done.returncode == 1
    assert done.stdout == ""
    assert (
        done.stderr == f"llminst: invalid_input: cwd: no such directory: {str(missing)!r}; "
        "give an existing directory (the CLI runs there)\n"
    )
