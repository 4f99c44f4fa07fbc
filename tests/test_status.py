"""Model status: executables, versions, credential names (never values), hints.

Versions come from a configured version command only, run in the supervisor's nursery: a
status waits a moment for it and says ``probing`` while a slow one keeps running, then a later
status has the version (or says it timed out or failed, and why). The version tests run twice,
on an idle machine and with every core busy (`machine_load`).
"""

from __future__ import annotations

import fcntl
import math
import os
import pty
import stat
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
from mcp import Client
from structlog.testing import capture_logs

from llminst import ModelSpec, open_supervisor
from llminst._core.config import BUILTIN_MODELS, parse_config
from llminst._core.status import (
    NOT_CONFIGURED,
    NOT_INSTALLED,
    ModelStatus,
    describe_model,
    parse_version,
    render_status_table,
)
from llminst.server import ServerOptions, create_server
from llminst.supervisor import QUICK_COMMAND_RETRY_AFTER_S, VERSION_PROBE_LIMIT_S, Supervisor

from .support.config import write_config
from .support.models import models_with
from .support.paths import LLMINST
from .support.procs import is_alive, processes_with_marker, wait_for_pids
from .support.versions import settled_models, settled_statuses

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


def test_parse_version() -> None:
    """The first version-looking token is the version; otherwise the first line."""
    assert parse_version("2.1.197 (Claude Code)\n") == "2.1.197"
    assert parse_version("llm, version 0.36\n") == "0.36"
    assert parse_version("openai 1.109.1") == "1.109.1"
    assert parse_version("weird build\nmore") == "weird build"
    assert parse_version("") is None


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
    assert processes_with_marker(marker) == []


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


def recording_cli(tmp_path: Path) -> tuple[Path, Path]:
    """An executable that appends its arguments to a file on every run (a paid-API wrapper)."""
    log = tmp_path / "invocations"
    script = tmp_path / "wrapper"
    script.write_text(f'#!/bin/sh\necho "$*" >> {log}\necho "wrapper 9.8.7"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, log


async def test_status_never_runs_a_custom_model_without_a_version_command(
    tmp_path: Path,
) -> None:
    """A custom model (in code and through configure_llm) has nothing run by status: no
    version, and a note saying no version_command is configured."""
    script, log = recording_cli(tmp_path)
    custom = ModelSpec(name="wrapper", command=(str(script),))
    async with open_supervisor(models={"wrapper": custom}) as sup:
        for _ in range(3):
            (status,) = await sup.status(version_wait_s=float("inf"))
    server = create_server(ServerOptions(models=dict(BUILTIN_MODELS)))
    async with Client(server) as client:
        configured = await client.call_tool(
            "configure_llm", {"model": "paid", "command": [str(script)]}
        )
        assert not configured.is_error
        paid = (await settled_models(client))["paid"]
    assert not log.exists(), log.read_text()
    for reported in (status.to_dict(), paid):
        assert reported["available"] and reported["version"] is None
        assert reported["version_state"] == "not_configured"
        assert reported["version_note"].startswith("no version_command configured")


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


def test_version_commands_are_configured_or_built_in() -> None:
    """Built-in CLIs read `EXE --version`, also when a config points them elsewhere; a model
    added in a config file has no version command unless it sets one."""
    config = parse_config(
        '[models.claude]\ncommand = ["/opt/claude/bin/claude", "-p"]\n'
        '[models.mine]\ncommand = ["mycli"]\n'
        '[models.versioned]\ncommand = ["mycli"]\nversion_command = ["mycli", "-V"]\n'
        "[models.gemini]\nversion_command = []\n",
        source="test.toml",
    )
    assert BUILTIN_MODELS["codex"].version_argv == ("codex", "--version")
    assert config.models["claude"].version_argv == ("/opt/claude/bin/claude", "--version")
    assert config.models["mine"].version_argv == ()
    assert config.models["versioned"].version_argv == ("mycli", "-V")
    assert config.models["gemini"].version_argv == ()
    assert ModelSpec(name="x", command=("x",)).version_argv == ()


async def test_probe_runs_a_tiny_prompt() -> None:
    """probe=True runs a real prompt on available models and reports ok or the error."""
    failing = ModelSpec(name="failing", command=(sys.executable, "-c", "import sys; sys.exit(3)"))
    async with open_supervisor(models=models_with(failing)) as sup:
        statuses = {s.model: s for s in await sup.status(probe=True)}
    assert statuses["echo"].probe == "ok"
    assert statuses["failing"].probe is not None
    assert statuses["failing"].probe.startswith("process_failed: ")
    assert all(s.probe is None for s in statuses.values() if not s.available)


# --------------------------------------------------------------------------------------------
# The `llminst status` table fits the terminal

LONG_HINT = " ".join(
    f"step{n}: fetch the vendor's installer from https://example.com/install/{n} and run it"
    for n in range(1, 6)
)


def same_text(wrapped: str, original: str) -> bool:
    """Equal but for where the lines broke (a word longer than the column is split)."""
    return wrapped.replace(" ", "") == original.replace(" ", "")


def hint_column(lines: list[str], model: str) -> tuple[str, list[str]]:
    """The HINT / PATH text of `model`'s row and its continuation lines, and those lines."""
    rows = model_rows(lines, model)
    hint_at = lines[0].index("HINT / PATH")
    return " ".join(line[hint_at:].strip() for line in rows), rows


def credentials_column(lines: list[str], model: str) -> str:
    credentials_at, hint_at = lines[0].index("CREDENTIALS"), lines[0].index("HINT / PATH")
    return " ".join(line[credentials_at:hint_at].strip() for line in model_rows(lines, model))


def model_rows(lines: list[str], model: str) -> list[str]:
    """`model`'s row and its continuation lines (not its "version:" or "probe:" line)."""
    credentials_at, hint_at = lines[0].index("CREDENTIALS"), lines[0].index("HINT / PATH")
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [model])
    rows = [lines[start]]
    for line in lines[start + 1 :]:
        if line[:credentials_at].strip() or line[credentials_at:hint_at].strip().endswith(":"):
            break
        rows.append(line)
    return rows


def long_hint_config(tmp_path: Path) -> Path:
    vendor = {"command": ["no-such-vendor-cli-xyz"], "install_hint": LONG_HINT}
    return write_config(tmp_path / "llminst.toml", models={"vendor": vendor})


def cli_env(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return {**env, "LLMINST_CONFIG": str(config)}


def statuses_with_long_cells() -> list[ModelStatus]:
    """A 400-character hint, a 61-character path and three credential names set."""
    gemini = BUILTIN_MODELS["gemini"]
    return [
        describe_model(
            ModelSpec(name="vendor", command=("vendor",), install_hint=LONG_HINT),
            executable_path=None,
            version=NOT_INSTALLED,
            env={},
            max_concurrency=1,
            running=0,
        ),
        describe_model(
            gemini,
            executable_path=GEMINI_PATH,
            version=NOT_CONFIGURED,
            env=dict.fromkeys(gemini.credential_env, "x"),
            max_concurrency=4,
            running=0,
        ),
    ]


GEMINI_PATH = "/opt/a/rather/long/folder/for/the/gemini/executable/bin/gemini"


@pytest.mark.parametrize("width", [120, 100, 80, 72])
def test_status_table_wraps_long_cells_to_the_width(width: int) -> None:
    """The hint, the path and the credential names wrap under their columns: every line fits
    and no word is lost."""
    lines = render_status_table(statuses_with_long_cells(), width=width)
    assert max(len(line) for line in lines) <= width, "\n".join(lines)
    assert len(LONG_HINT) > 300
    hint, rows = hint_column(lines, "vendor")
    assert same_text(hint, f"'vendor' not found: {LONG_HINT}") and len(rows) > 1
    path, _ = hint_column(lines, "gemini")
    assert same_text(path, GEMINI_PATH)
    credentials = credentials_column(lines, "gemini")
    assert same_text(credentials, ", ".join(BUILTIN_MODELS["gemini"].credential_env))
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == ["version:"])
    note = " ".join(line[lines[0].index("HINT / PATH") :].strip() for line in lines[at:])
    assert same_text(note, NOT_CONFIGURED.note or "")


def test_a_terminal_too_narrow_for_the_table_gets_a_block_per_model() -> None:
    """40 columns: each model is a block of labelled lines, every line fits, nothing is lost."""
    lines = render_status_table(statuses_with_long_cells(), width=40)
    assert max(len(line) for line in lines) <= 40, "\n".join(lines)
    text = " ".join(line.strip() for line in lines)
    assert lines[0].startswith("vendor: ready no, version -, normal")
    assert same_text(
        text.split("hint / path:")[1].split("gemini:")[0], f"'vendor' not found: {LONG_HINT}"
    )
    assert same_text(text.split("hint / path:")[2].split("version:")[0], GEMINI_PATH)


def test_llminst_status_fits_100_columns_when_not_a_terminal(tmp_path: Path) -> None:
    """Piped, `llminst status` lays the table out for 100 columns and keeps the whole hint."""
    done = subprocess.run(
        [*LLMINST, "status"],
        env=cli_env(long_hint_config(tmp_path)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100, done.stdout
    hint, _ = hint_column(lines, "vendor")
    assert same_text(hint, f"'no-such-vendor-cli-xyz' not found: {LONG_HINT}")


def test_llminst_status_fits_the_terminal_it_prints_to(tmp_path: Path) -> None:
    """On a real pseudo-terminal 72 columns wide, every line of the table fits in 72."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 72, 0, 0))
    proc = subprocess.Popen(
        [*LLMINST, "status"],
        env=cli_env(long_hint_config(tmp_path)),
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    output = b""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO once the child side is closed
            break
        if not data:
            break
        output += data
    os.close(master)
    assert proc.wait(timeout=300) == 0
    lines = output.decode().replace("\r\n", "\n").splitlines()
    assert lines and lines[0].startswith("MODEL")
    assert max(len(line) for line in lines) <= 72, output.decode()
    hint, _ = hint_column(lines, "vendor")
    assert same_text(hint, f"'no-such-vendor-cli-xyz' not found: {LONG_HINT}")
