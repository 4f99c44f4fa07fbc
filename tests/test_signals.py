"""A signal to any llminst command is a cancellation: the call's whole tree is killed and reaped,
then the command exits with 128 + the signal's number and one short line on stderr.

Every test runs the real command as a process, with CLIs that leave grandchildren behind (one in
their process group, one that escaped it with setsid), and checks by PID, start time and
command-line marker that nothing of the tree is left, zombies included.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pexpect
import pytest
import trio
from attrs import frozen
from mcp import Client

from .support.config import write_config
from .support.paths import FAKECLI, LLMINST
from .support.procs import (
    parent,
    processes_with_env,
    read_pids,
    start_times,
    stop_server,
    tree_leftovers,
    wait_for_pids,
)
from .support.serve import handshake

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


# --------------------------------------------------------------------------------------------
# llminst serve


def _raw_calls(model: str, count: int) -> bytes:
    """The handshake, then `count` execute_llm requests, as raw JSON lines."""
    calls = [
        {
            "jsonrpc": "2.0",
            "id": 2 + i,
            "method": "tools/call",
            "params": {"name": "execute_llm", "arguments": {"model": model, "prompt": "x"}},
        }
        for i in range(count)
    ]
    messages: list[dict[str, Any]] = [*handshake(), *calls]
    return b"".join(json.dumps(m).encode() + b"\n" for m in messages)


@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
async def test_stdio_serve_stops_on_a_signal_with_its_status(tmp_path: Path, sig: int) -> None:
    """`llminst serve` over stdio: TERM, HUP and INT stop it with 128 + the signal (it used to
    exit 0, and SIGHUP killed it outright, leaving every running tree behind)."""
    tree = write_tree_config(tmp_path)
    argv = [*LLMINST, "--config", str(tree.config), "serve"]
    done = await signal_midway(argv, tree, sig, processes=4, stdin=_raw_calls("escaper", 2))
    assert_cancelled(done, sig, tree, line="llminst serve: stopped")


@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
async def test_http_serve_stops_on_a_signal_with_its_status(tmp_path: Path, sig: int) -> None:
    """`llminst serve --transport http`: the same, with a call running over HTTP."""
    tree = write_tree_config(tmp_path)
    argv = [*LLMINST, "--config", str(tree.config), "serve", "--transport", "http", "--port", "0"]
    proc = await trio.lowlevel.open_process(
        argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=default_signals
    )
    assert proc.stderr is not None
    try:
        err = await read_until(proc.stderr, b"/mcp")
        url = err.decode().split("listening on ", 1)[1].split()[0]
        assert url.endswith("/mcp"), err
        async with trio.open_nursery() as nursery:

            async def call() -> None:
                try:
                    async with Client(url) as client:
                        await client.call_tool("execute_llm", {"model": "escaper", "prompt": "x"})
                except Exception:
                    pass  # the connection closes under the call

            nursery.start_soon(call)
            started = start_times(await wait_for_pids(tree.pidfile, 2, within_s=60))
            proc.send_signal(sig)
            with trio.fail_after(30):
                await proc.wait()
            nursery.cancel_scope.cancel()
        with trio.fail_after(10):
            while data := await proc.stderr.receive_some(65536):
                err += data
    finally:
        await stop_server(proc)
        kill_leftovers(tree)
    done = Finished(proc.returncode, "", err.decode(), started)
    assert_cancelled(done, sig, tree, line="llminst serve: stopped")


async def read_until(stream: trio.abc.ReceiveStream, needle: bytes) -> bytearray:
    """Read `stream` until `needle` and the end of its line have arrived."""
    seen = bytearray()
    with trio.fail_after(60):
        while needle not in seen or not seen.split(needle, 1)[1].count(b"\n"):
            data = await stream.receive_some(65536)
            assert data, f"the stream ended first: {bytes(seen)!r}"
            seen += data
    return seen
