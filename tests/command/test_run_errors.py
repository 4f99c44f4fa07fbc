"""`llminst run` failures: the error line, then what the CLI said on stderr, for every kind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ..support.config import write_config
from ..support.paths import FAKECLI, LLMINST
from ..support.procs import is_alive, processes_with_marker, read_pids

MARKER = "tail-marker-4f2a"


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


MODELS = {
    # Notices on stderr, then silence until the deadline.
    "mutters": _python(
        "import sys, time\n"
        f"print('warning: retrying the handshake ({MARKER})', file=sys.stderr, flush=True)\n"
        "time.sleep(120)\n"
    ),
    # Prose where JSON was asked for, with a notice on stderr.
    "prose": _python(
        f"import sys; print('note: {MARKER}', file=sys.stderr); print('no JSON here')"
    ),
    "quiet-prose": _python("print('no JSON here')"),
    "fails": [sys.executable, FAKECLI, "fail", "3", f"fatal: disk full ({MARKER})"],
    "loggedout": [sys.executable, "-m", "llminst.echo"],
}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    models = {name: {"command": command} for name, command in MODELS.items()}
    models["loggedout"] |= {
        "auth_patterns": ["not logged in"],
        "env": {"LLMINST_ECHO_LOGGED_OUT": "1"},
    }
    return write_config(tmp_path / "llminst.toml", models=models)


def _run(config: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLMINST_ECHO_STATE_DIR": str(tmp_path / "echo-state")}
    return subprocess.run(
        [*LLMINST, "--config", str(config), "run", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.parametrize(
    ("kind", "args", "said"),
    [
        ("timeout", ["mutters", "x", "--timeout", "1"], MARKER),
        ("json_not_found", ["prose", "x", "--json"], MARKER),
        ("process_failed", ["fails", "x"], MARKER),
        ("credentials_missing", ["loggedout", "x"], "unset LLMINST_ECHO_LOGGED_OUT"),
        ("rate_limited", ["echo", "[[echo:rate-limit=9]] [[echo:reset-in=7200]] x"], "429"),
    ],
)
def test_run_shows_the_stderr_tail_after_the_error_line(
    config: Path, tmp_path: Path, kind: str, args: list[str], said: str
) -> None:
    """Regression: only some kinds showed what the CLI wrote on stderr (a timeout with error
    notices said just "pass a larger timeout"). Every failure kind shows it, after the error."""
    done = _run(config, tmp_path, *args)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    error_line = f"llminst: {kind}: "
    assert error_line in done.stderr, done.stderr
    after = done.stderr.split(error_line, 1)[1]
    assert said in after, done.stderr
    if kind != "rate_limited":  # its message quotes an excerpt; the tail may repeat it
        assert done.stderr.count(said) == 1, f"shown twice:\n{done.stderr}"


def test_run_shows_no_tail_when_the_cli_wrote_nothing_on_stderr(
    config: Path, tmp_path: Path
) -> None:
    """No stderr, no stderr section."""
    done = _run(config, tmp_path, "quiet-prose", "x", "--json")
    assert done.returncode == 1
    assert "llminst: json_not_found: " in done.stderr
    assert "stderr ends with" not in done.stderr, done.stderr


def test_run_kills_a_descendant_that_left_the_group(tmp_path: Path) -> None:
    """`llminst run` is a child subreaper: a grandchild that called setsid (and whose parent
    already exited) is killed and reaped with the call, here at its timeout."""
    pidfile, marker = tmp_path / "pids", f"escapee-{uuid.uuid4().hex}"
    escape = {
        "command": [sys.executable, FAKECLI, "double-fork"],
        "env": {"FAKECLI_PIDFILE": str(pidfile), "FAKECLI_MARKER": marker},
    }
    config = write_config(tmp_path / "escape.toml", models={"escape": escape})
    done = _run(config, tmp_path, "escape", "x", "--timeout", "2")
    assert done.returncode == 1 and "llminst: timeout: " in done.stderr, done.stderr
    pids = read_pids(pidfile)
    assert len(pids) == 2, pids  # the CLI and its setsid grandchild
    left = sorted({pid for pid in pids if is_alive(pid)} | set(processes_with_marker(marker)))
    try:
        assert not left, f"still running after llminst run exited: {left}"
    finally:
        for pid in processes_with_marker(marker):
            os.kill(pid, signal.SIGKILL)
