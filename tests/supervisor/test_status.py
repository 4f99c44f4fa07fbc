"""Model status through the supervisor: executables, versions, credential names (never values),
hints, probes.

Versions come from a configured version command only, run in the supervisor's nursery: a
status waits a moment for it and says ``probing`` while a slow one keeps running, then a later
status has the version (or says it timed out or failed, and why). The version tests run twice,
on an idle machine and with every core busy (`machine_load`). The pure part (parsing, the
table) is tests/core/test_status.py; `llminst status` is tests/command/test_status.py.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
from structlog.testing import capture_logs

from llminst import ModelSpec, open_supervisor
from llminst._core.status import ModelStatus
from llminst.supervisor import QUICK_COMMAND_RETRY_AFTER_S, VERSION_PROBE_LIMIT_S, Supervisor

from ..support.models import models_with
from ..support.procs import is_alive, processes_with_marker, wait_for_pids
from ..support.status import recording_cli
from ..support.versions import settled_statuses

# A stand-in version command: records its PID, sleeps argv[2] seconds, prints argv[3], exits argv[4].
VERSION_CLI = """
import sys, os, time
with open(sys.argv[1], "a") as f:
    f.write(f"{os.getpid()}\\n")
time.sleep(float(sys.argv[2]))
print(sys.argv[3])
sys.exit(int(sys.argv[4]))
"""


def version_spec(
    tmp_path: Path, *, sleep_s: float, prints: str = "slowcli 4.5.6", exit_code: int = 0
) -> ModelSpec:
    """A model whose version command is `VERSION_CLI`; its runs' PIDs go to tmp_path/runs."""
    return ModelSpec(
        name="slowcli",
        command=(sys.executable,),
        version_command=(
            sys.executable,
            "-c",
            VERSION_CLI,
            str(tmp_path / "runs"),
            str(sleep_s),
            prints,
            str(exit_code),
        ),
    )


def runs_of(tmp_path: Path) -> list[int]:
    runs = tmp_path / "runs"
    return [int(pid) for pid in runs.read_text().split()] if runs.exists() else []


@pytest.mark.usefixtures("machine_load")
async def test_status_reports_found_and_missing_executables() -> None:
    """echo is available with its version; a missing CLI has a hint saying how to install it."""
    ghost = ModelSpec(name="ghost", command=("no-such-cli-xyz",), install_hint="pip install ghost")
    async with open_supervisor(models=models_with(ghost)) as sup:
        statuses = await settled_statuses(sup)
    echo = statuses["echo"]
    assert echo["available"] and echo["executable_path"] == sys.executable
    assert echo["version"] == "0.1.0" and echo["version_state"] == "ok"
    assert echo["version_note"] is None and echo["hint"] is None
    assert echo["timeout_category"] == "quick" and echo["max_concurrency"] == 64
    ghost_status = statuses["ghost"]
    assert not ghost_status["available"] and ghost_status["version_state"] == "not_installed"
    assert ghost_status["hint"] == "'no-such-cli-xyz' not found: pip install ghost"


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


# --------------------------------------------------------------------------------------------
# Slow version commands: answered in time, probed in the background


@pytest.mark.usefixtures("machine_load")
async def test_slow_version_shows_probing_then_the_version(tmp_path: Path) -> None:
    """A version command taking 3 s: the first status says probing (after its 1.5 s wait); the
    command keeps running, once, however many statuses ask meanwhile; a later status has it."""
    spec = version_spec(tmp_path, sleep_s=3)
    async with open_supervisor(models={"slowcli": spec}) as sup:
        (first,) = await sup.status()
        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(sup.status)  # concurrent askers share the one run
        settled = (await settled_statuses(sup))["slowcli"]
        (again,) = await sup.status()  # from the cache: nothing runs
    assert first.version is None and first.version_state == "probing"
    assert first.version_note is not None and first.version_note.startswith("probing: ")
    assert "is still running" in first.version_note
    assert settled["version"] == "4.5.6" and settled["version_state"] == "ok"
    assert again.version == "4.5.6"
    assert len(runs_of(tmp_path)) == 1


async def wait_frozen(
    clock: trio.testing.MockClock, condition: Callable[[], bool], what: str, within_s: float = 120
) -> None:
    """Wait in real time (polling in a thread) with the virtual clock standing still: for
    things a real process does at its own pace."""

    def wait() -> bool:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.01)
        return False

    threshold, clock.autojump_threshold = clock.autojump_threshold, math.inf
    try:
        assert await trio.to_thread.run_sync(wait), f"{what} within {within_s:g} s"
    finally:
        clock.autojump_threshold = threshold


async def test_status_answers_in_time_and_a_hung_version_command_times_out(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """On a virtual clock: status answers after exactly its 1.5 s wait, saying probing; the
    hung command is killed at 15 s and reported as timed out (and not rerun at once); a minute
    later a status runs it again."""
    spec = version_spec(tmp_path, sleep_s=10_000)
    marker = str(tmp_path / "runs")
    # Starting a process takes real time (trio forks in a thread): the virtual clock stands
    # still until the command runs, so its 15 s and the status's 1.5 s start together at 0.
    autojump_clock.autojump_threshold = math.inf
    statuses: list[ModelStatus] = []
    with capture_logs() as logs:
        async with open_supervisor(models={"slowcli": spec}) as sup:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(lambda: _append_status(sup, statuses))
                await wait_frozen(autojump_clock, lambda: bool(runs_of(tmp_path)), "no run")
                autojump_clock.autojump_threshold = 0
            answered_at = trio.current_time()
            with trio.fail_after(VERSION_PROBE_LIMIT_S + 30):
                await _append_status(sup, statuses, version_wait_s=math.inf)
            settled_at = trio.current_time()
            await wait_frozen(
                autojump_clock, lambda: not processes_with_marker(marker), "the command lives"
            )
            await _append_status(sup, statuses)  # within the minute: reported, not rerun
            await trio.sleep(QUICK_COMMAND_RETRY_AFTER_S)
            await _append_status(sup, statuses)
    first, timed_out, soon_after, retried = statuses
    assert answered_at == pytest.approx(1.5)
    assert first.version is None and first.version_state == "probing"
    # killed at 15 s; SIGTERM's grace (0.5 s) and reaping may take virtual time too
    assert VERSION_PROBE_LIMIT_S <= settled_at <= VERSION_PROBE_LIMIT_S + 6
    assert timed_out.version is None and timed_out.version_state == "timed_out"
    assert timed_out.version_note is not None
    assert timed_out.version_note.startswith("version probe timed out after 15 s (`python -c")
    assert timed_out.version_note.endswith("; tried again 60 s later")
    assert soon_after.version_state == "timed_out"
    assert retried.version_state == "probing"
    events = [e["event"] for e in logs]
    assert events.count("llminst.quick_command.started") == 2
    assert events.count("llminst.quick_command.timed_out") == 1
    # The retried command was SIGKILLed as the supervisor closed; on this virtual clock the
    # bounded wait for the kernel to tear it down ends at once, so a loaded machine may still
    # be finishing it: wait for that in real time (it must be gone, never left running).
    await wait_frozen(autojump_clock, lambda: not processes_with_marker(marker), "the kill")


async def _append_status(
    sup: Supervisor, statuses: list[ModelStatus], version_wait_s: float = 1.5
) -> None:
    (status,) = await sup.status(version_wait_s=version_wait_s)
    statuses.append(status)


async def test_a_running_version_probe_dies_with_the_supervisor(tmp_path: Path) -> None:
    """Closing the supervisor kills and reaps a version command still running."""
    spec = version_spec(tmp_path, sleep_s=10_000)
    async with open_supervisor(models={"slowcli": spec}) as sup:
        (status,) = await sup.status(version_wait_s=0)
        (pid,) = await wait_for_pids(tmp_path / "runs", 1, within_s=120)
        assert status.version_state == "probing" and is_alive(pid)
    assert not is_alive(pid)
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # noqa: ASYNC222 - WNOHANG never blocks; reaped: not our child


@pytest.mark.parametrize(
    ("prints", "exit_code", "note"),
    [
        ("error: licence server unreachable", 1, "failed with exit 1: error: licence server"),
        ("", 0, "printed nothing"),
    ],
)
async def test_a_failed_version_command_says_why(
    tmp_path: Path, prints: str, exit_code: int, note: str
) -> None:
    """A version command that exits non-zero (or prints nothing) is reported as failed, with
    its exit code and last line, and is not run again for the same executable."""
    spec = version_spec(tmp_path, sleep_s=0, prints=prints, exit_code=exit_code)
    async with open_supervisor(models={"slowcli": spec}) as sup:
        settled = (await settled_statuses(sup))["slowcli"]
        (again,) = await sup.status()
    assert settled["version"] is None and settled["version_state"] == "failed"
    assert note in settled["version_note"]
    assert again.version_note == settled["version_note"]
    assert len(runs_of(tmp_path)) == 1


async def test_a_version_command_that_cannot_start_says_why(tmp_path: Path) -> None:
    """A configured version command whose program is missing: failed, naming the error."""
    spec = ModelSpec(
        name="broken", command=(sys.executable,), version_command=("no-such-version-xyz", "-v")
    )
    async with open_supervisor(models={"broken": spec}) as sup:
        (status,) = await sup.status()
    assert status.version_state == "failed"
    assert status.version_note is not None
    assert "`no-such-version-xyz -v` could not start: No such file or directory" in (
        status.version_note
    )


# --------------------------------------------------------------------------------------------
# Only configured or built-in version commands run


async def test_a_configured_version_command_runs_the_configured_argv(tmp_path: Path) -> None:
    """version_command (with {executable} for the model's executable) is what status runs."""
    script, log = recording_cli(tmp_path)
    spec = ModelSpec(
        name="wrapper",
        command=(str(script), "--flag"),
        version_command=("{executable}", "version", "--short"),
    )
    async with open_supervisor(models={"wrapper": spec}) as sup:
        statuses = await settled_statuses(sup)
    assert log.read_text() == "version --short\n"
    assert statuses["wrapper"]["version"] == "9.8.7"


async def test_probe_runs_a_tiny_prompt() -> None:
    """probe=True runs a real prompt on available models and reports ok or the error."""
    failing = ModelSpec(name="failing", command=(sys.executable, "-c", "import sys; sys.exit(3)"))
    async with open_supervisor(models=models_with(failing)) as sup:
        statuses = {s.model: s for s in await sup.status(probe=True)}
    assert statuses["echo"].probe == "ok"
    assert statuses["failing"].probe is not None
    assert statuses["failing"].probe.startswith("process_failed: ")
    assert all(s.probe is None for s in statuses.values() if not s.available)
