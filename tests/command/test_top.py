"""`llminst top`: the call store's running and recent calls, live on a terminal, where a key
cancels the picked call; one plain table off a terminal or with ``--once``.

The live view runs on a real pseudo-terminal (pexpect) and is read through pyte, a terminal
emulator, as a user would see it; the calls are real `llminst run` processes on a real SQLite
file, and the cancelled call's tree is checked in procfs.
"""

from __future__ import annotations

import signal
import subprocess
import termios
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from llminst._core.records import CallOrigin, CallRecord, CallState
from llminst.store import SQLiteStore

from ..support.monitor import SLOW_STREAM, Terminal, call_record, wait_for_output
from ..support.paths import LLMINST
from ..support.procs import cmdline, descendants, is_alive

LEAVE_ALTERNATE_SCREEN = b"\x1b[?1049l"
SHOW_CURSOR = b"\x1b[?25h"


def top_argv(store_file: Path, *extra: str) -> list[str]:
    return [*LLMINST, "top", "--store", str(store_file), "--interval", "0.3", *extra]


@pytest.fixture
async def running_call(tmp_path: Path) -> AsyncIterator[tuple[Path, CallRecord, trio.Process]]:
    """A store file with one finished call and, newer, one `llminst run` call streaming slowly."""
    store_file = tmp_path / "calls.sqlite3"
    await trio.run_process([*LLMINST, "run", "--store", str(store_file), "echo", "done before"])
    run = await trio.lowlevel.open_process(
        [*LLMINST, "run", "--store", str(store_file), "echo", SLOW_STREAM],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        with trio.fail_after(120):
            running = await wait_for_output(store_file)
        yield store_file, running, run
    finally:
        if run.returncode is None:
            run.terminate()  # llminst run kills and reaps its CLI's tree on SIGTERM
        with trio.fail_after(60):
            await run.wait()


def row_of(term: Terminal, call_id: str) -> str:
    return next((line for line in term.lines() if line.startswith(call_id)), "")


async def test_top_shows_the_running_call_and_c_cancels_the_picked_one(
    running_call: tuple[Path, CallRecord, trio.Process],
) -> None:
    store_file, running, run = running_call
    tree = [pid for pid, _ in descendants(run.pid) if b"llminst.echo" in (cmdline(pid) or b"")]
    assert tree
    term = Terminal(top_argv(store_file))
    term.wait_for(lambda t: " running " in row_of(t, running.call_id))
    assert "echo" in row_of(term, running.call_id)
    assert term.lines()[0].startswith("llminst top   1 running")
    (finished,) = [line for line in term.lines() if " succeeded " in line]
    finished_id = finished.split()[0]
    # The running call is listed first and picked; j picks the one below, k comes back.
    term.wait_for(lambda t: t.reversed_text().startswith(running.call_id))
    term.child.send("j")
    term.wait_for(lambda t: t.reversed_text().startswith(finished_id))
    term.child.send("c")
    term.wait_for(lambda t: f"{finished_id} already ended (succeeded)" in t.lines())
    term.child.send("\x1b[A")  # the up arrow
    term.wait_for(lambda t: t.reversed_text().startswith(running.call_id))
    term.child.send("c")
    term.wait_for(lambda t: " cancelled " in row_of(t, running.call_id))
    assert any(line.startswith(f"cancel requested for {running.call_id}") for line in term.lines())
    term.child.send("q")
    assert term.wait_exit() == 0
    assert term.received.endswith(SHOW_CURSOR + LEAVE_ALTERNATE_SCREEN)
    with trio.fail_after(60):
        await run.wait()
    assert run.returncode == 1
    assert all(not is_alive(pid) for pid in tree)
    record = await call_record(store_file, running.call_id)
    assert record is not None and record.state is CallState.CANCELLED
    assert record.output_chars >= running.output_chars > 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_top_with_128_plus_it_and_the_terminal_restored(
    tmp_path: Path, signum: signal.Signals
) -> None:
    term = Terminal(top_argv(tmp_path / "calls.sqlite3"))
    term.wait_for(lambda t: "no calls in the store yet" in t.lines())
    cooked = termios.tcgetattr(term.child.child_fd)
    assert not cooked[3] & termios.ICANON  # top reads keys one by one
    if signum == signal.SIGINT:
        term.child.sendintr()  # Ctrl-C, through the terminal
    else:
        term.child.kill(signum)
    term.wait_exit()
    assert term.child.exitstatus == 128 + signum
    assert b"Traceback" not in term.received
    assert LEAVE_ALTERNATE_SCREEN in term.received
    restored = term.final_modes
    assert restored[3] & termios.ICANON and restored[3] & termios.ECHO


async def test_once_prints_one_plain_table_with_every_column(tmp_path: Path) -> None:
    store_file = tmp_path / "calls.sqlite3"
    an_hour_ago = time.time() - 3600
    store = await SQLiteStore.open(store_file)
    try:
        await store.add_call(
            CallRecord(
                call_id="abc-1",
                model="claude:sonnet",
                state=CallState.SUCCEEDED,
                origin=CallOrigin.MCP,
                created_at=an_hour_ago,
                started_at=an_hour_ago,
                finished_at=an_hour_ago + 2.5,
                usage={"input_tokens": 12, "output_tokens": 345},
                cost_usd=0.0123,
                cwd="/srv/project",
                session="review",
            )
        )
        await store.append_output("abc-1", "x" * 42)
    finally:
        await store.aclose()
    for argv in (top_argv(store_file, "--once"), top_argv(store_file)):  # stdout: a pipe
        shown = await trio.run_process(argv, capture_stdout=True, capture_stderr=True)
        header, row = shown.stdout.decode().splitlines()[1:]
        assert header.split() == [
            "ID", "MODEL", "STATE", "ELAPSED", "CHARS", "TOKENS", "COST", "CWD", "SESSION"
        ]  # fmt: skip
        assert row.split() == [
            "abc-1", "claude:sonnet", "succeeded", "2.5s", "42", "12/345", "$0.0123",
            "/srv/project", "review",
        ]  # fmt: skip
        assert "\x1b" not in shown.stdout.decode() and shown.stderr == b""


def test_a_bad_interval_is_invalid_input_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [*LLMINST, "top", "--store", str(tmp_path / "s.sqlite3"), "--interval", "0", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "llminst: invalid_input: --interval must be more than 0 seconds (got 0); e.g. 0.5\n"
    )
