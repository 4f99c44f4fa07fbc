"""Signalling llminst commands in tests: a config whose CLIs leave grandchildren behind, a command
signalled once its tree is in place, and the checks that the signal was a cancellation.

`write_tree_config` gives models `tree` (a grandchild in the CLI's process group) and `escaper`
(a grandchild that left the group with setsid), both recording their PIDs and marking their
grandchildren; `signal_midway` starts a command, waits for the tree, signals it and waits for the
exit; `assert_cancelled` checks the exit status (128 + the signal), the one short line on stderr
and that nothing of the tree is left (by PID, start time and marker, zombies included).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import trio
from attrs import frozen

from .config import write_config
from .paths import FAKECLI
from .procs import processes_with_env, start_times, stop_server, tree_leftovers, wait_for_pids

SIGNALS = [signal.SIGTERM, signal.SIGHUP, signal.SIGINT]
SIGNAL_IDS = ["SIGTERM", "SIGHUP", "SIGINT"]
CANCEL_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@frozen
class Tree:
    """A config whose models record their PIDs in `pidfile` and mark their grandchildren."""

    config: Path
    pidfile: Path
    marker: str


def write_tree_config(tmp_path: Path, *, as_echo: bool = False) -> Tree:
    """Models `tree` (a grandchild in the CLI's group) and `escaper` (a setsid grandchild).

    With `as_echo`, the built-in `echo` is replaced by `tree`, so `llminst demo` hangs in its
    first call with a tree in place.
    """
    pidfile = tmp_path / "pids"
    marker = f"signals-{uuid.uuid4().hex}"
    env = {"FAKECLI_PIDFILE": str(pidfile), "FAKECLI_MARKER": marker}
    models = {}
    for name, mode in [("tree", "hang-tree"), ("escaper", "setsid-child")]:
        names = [name, "echo"] if as_echo and name == "tree" else [name]
        for model in names:
            models[model] = {"command": [sys.executable, FAKECLI, mode], "env": env}
    config = write_config(
        tmp_path / "llminst.toml", models=models, settings={"grace_period_s": 1.0}
    )
    return Tree(config, pidfile, marker)


def default_signals() -> None:
    """In the child before exec: the cancelling signals as a fresh login shell has them.

    A test runner started under nohup, or with `&` from a script, passes SIGHUP or SIGINT on
    ignored; llminst rightly keeps such a choice, so the tests undo it for the command.
    """
    for signum in CANCEL_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)


@frozen
class Finished:
    code: int
    stdout: str
    stderr: str
    started: dict[int, int]  # PID -> start time of every process of the tree


async def signal_midway(
    argv: list[str],
    tree: Tree,
    sig: int,
    *,
    processes: int = 2,
    stdin: bytes | None = None,
    extra_pids: Callable[[list[int]], list[int]] = lambda pids: [],
) -> Finished:
    """Start `argv`, wait until its CLI's tree is in place, send `sig`, wait for the exit."""
    proc = await trio.lowlevel.open_process(
        argv,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=default_signals,
    )
    out, err = bytearray(), bytearray()

    async def drain(stream: trio.abc.ReceiveStream | None, into: bytearray) -> None:
        assert stream is not None
        while data := await stream.receive_some(65536):
            into += data

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain, proc.stdout, out)
            nursery.start_soon(drain, proc.stderr, err)
            if stdin is not None:
                assert proc.stdin is not None
                await proc.stdin.send_all(stdin)
            pids = await wait_for_pids(tree.pidfile, processes, within_s=60)
            started = start_times(pids + extra_pids(pids))
            proc.send_signal(sig)
            with trio.fail_after(30):
                await proc.wait()
                # A leftover holding the pipes open would keep these from ending.
                nursery.cancel_scope.deadline = trio.current_time() + 10
    finally:
        await stop_server(proc)
        kill_leftovers(tree)
    assert proc.returncode is not None
    return Finished(proc.returncode, out.decode(), err.decode(), started)


def kill_leftovers(tree: Tree) -> None:
    """After a failed check, do not leave the failure's processes running for the next test.

    Only processes with the tree's marker in their environment are killed (a PID from the
    pidfile may have been reused by now).
    """
    for pid in processes_with_env("FAKECLI_MARKER", tree.marker):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def assert_cancelled(done: Finished, sig: int, tree: Tree, *, line: str) -> None:
    name = signal.Signals(sig).name
    assert done.code == 128 + sig, f"exit status {done.code}; stderr:\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    assert f"{line} by {name}" in done.stderr, done.stderr
    assert len(done.stderr.splitlines()) <= 3, done.stderr
    left = tree_leftovers(done.started, tree.marker)
    assert not left, f"left after the command exited: {left}"
