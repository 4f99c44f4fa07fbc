"""A signal to any llminst command is a cancellation: the call's whole tree is killed and reaped,
then the command exits with 128 + the signal's number and one short line on stderr.

Here `llminst run` and `llminst demo`; `llminst serve` is tests/serve/test_signals.py. Every
test runs the real command as a process, with CLIs that leave grandchildren behind (one in
their process group, one that escaped it with setsid), and checks by PID, start time and
command-line marker that nothing of the tree is left, zombies included.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest
import trio

from ..support.config import write_config
from ..support.paths import LLMINST
from ..support.procs import (
    parent,
    read_pids,
    start_times,
    stop_server,
    tree_leftovers,
    wait_for_pids,
)
from ..support.signals import (
    SIGNAL_IDS,
    SIGNALS,
    Tree,
    assert_cancelled,
    default_signals,
    kill_leftovers,
    signal_midway,
    write_tree_config,
)

# --------------------------------------------------------------------------------------------
# llminst run


@pytest.mark.parametrize("model", ["tree", "escaper"])
@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
async def test_run_is_cancelled_by_a_signal_and_leaves_nothing(
    tmp_path: Path, sig: int, model: str
) -> None:
    """Regression: `timeout 3 llminst run ...` left the CLI running, re-parented to PID 1.

    TERM, HUP and INT each kill and reap the call's whole tree (also a grandchild that left
    the group with setsid) before `run` exits with 128 + the signal; the answer so far stays
    on stdout.
    """
    tree = write_tree_config(tmp_path)
    argv = [*LLMINST, "--config", str(tree.config), "run", model, "x"]
    done = await signal_midway(argv, tree, sig)
    assert_cancelled(done, sig, tree, line="llminst: cancelled")
    assert done.stdout.startswith("started\n")


async def test_run_keeps_a_signal_its_parent_ignored(tmp_path: Path) -> None:
    """`nohup llminst run ...`: SIGHUP stays ignored and the call answers."""
    pidfile, go = tmp_path / "pids", tmp_path / "go"
    script = (
        "import os, sys, time\n"
        f"open({str(pidfile)!r}, 'a').write(f'{{os.getpid()}}\\n')\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.02)\n"
        "print('answered')\n"
    )
    waiter = {"command": [sys.executable, "-c", script]}
    config = write_config(tmp_path / "llminst.toml", models={"waiter": waiter})

    def ignore_hangups() -> None:
        default_signals()
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    argv = [*LLMINST, "--config", str(config), "run", "waiter", "x"]
    proc = await trio.lowlevel.open_process(argv, stdout=subprocess.PIPE, preexec_fn=ignore_hangups)
    assert proc.stdout is not None
    try:
        await wait_for_pids(pidfile, 1, within_s=60)
        proc.send_signal(signal.SIGHUP)
        # Had the hangup been taken, `run` would be cancelling (and exiting) by now.
        await trio.sleep(1.0)
        assert proc.poll() is None, "llminst run took a SIGHUP its parent ignored"
        go.touch()
        out = bytearray()
        with trio.fail_after(60):
            while data := await proc.stdout.receive_some(65536):
                out += data
            await proc.wait()
    finally:
        go.touch()
        await stop_server(proc)
    assert proc.returncode == 0 and out == b"answered\n"


def test_run_ctrl_c_on_a_real_terminal(tmp_path: Path) -> None:
    """Regression: Ctrl-C printed a 46-86 line exception-group traceback and exited 1.

    \\x03 typed on a real pseudo-terminal: exit 130, one line, the tree gone.
    """
    tree = write_tree_config(tmp_path)
    argv = [*LLMINST, "--config", str(tree.config), "run", "escaper", "x"]
    output, code, started = _ctrl_c_in_a_terminal(argv, tree)
    assert code == 130, output
    assert "Traceback" not in output and "llminst: cancelled by SIGINT" in output, output
    assert not tree_leftovers(started, tree.marker)


def _ctrl_c_in_a_terminal(argv: list[str], tree: Tree) -> tuple[str, int, dict[int, int]]:
    child = pexpect.spawn(argv[0], argv[1:], timeout=60, preexec_fn=default_signals)
    try:
        deadline = time.monotonic() + 60
        while len(read_pids(tree.pidfile)) < 2:
            assert time.monotonic() < deadline, "the CLI's tree never came up"
            assert child.isalive(), child.read_nonblocking(65536, timeout=0)
            time.sleep(0.02)
        started = start_times(read_pids(tree.pidfile))
        child.send("\x03")  # the terminal turns it into SIGINT for the foreground group
        child.expect(pexpect.EOF, timeout=60)
        child.close()
        output = child.before.decode("utf-8", "replace")
        return output, child.exitstatus, started
    finally:
        if child.isalive():
            child.terminate(force=True)
        kill_leftovers(tree)


# --------------------------------------------------------------------------------------------
# llminst demo


def _demo_server(pids: list[int]) -> list[int]:
    """The `llminst serve` the demo started: the parent of the CLI."""
    server = parent(pids[0])
    assert server is not None, f"the CLI {pids[0]} is already gone"
    return [server]


@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
async def test_demo_is_cancelled_by_a_signal_and_leaves_nothing(tmp_path: Path, sig: int) -> None:
    """`llminst demo` mid-call: the server it started, the CLI and its grandchild are all gone
    when it exits with 128 + the signal."""
    tree = write_tree_config(tmp_path, as_echo=True)
    argv = [*LLMINST, "--config", str(tree.config), "demo"]
    done = await signal_midway(argv, tree, sig, extra_pids=_demo_server)
    assert_cancelled(done, sig, tree, line="llminst: cancelled")


def test_demo_ctrl_c_on_a_real_terminal(tmp_path: Path) -> None:
    """Ctrl-C typed on a real pseudo-terminal stops `llminst demo`: exit 130, tree gone."""
    tree = write_tree_config(tmp_path, as_echo=True)
    argv = [*LLMINST, "--config", str(tree.config), "demo"]
    output, code, started = _ctrl_c_in_a_terminal(argv, tree)
    assert code == 130, output
    assert "Traceback" not in output and "llminst: cancelled by SIGINT" in output, output
    assert not tree_leftovers(started, tree.marker)
