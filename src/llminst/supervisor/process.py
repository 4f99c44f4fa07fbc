"""Where a process is started and where it is killed: every process llminst runs begins here.

`start` runs a command in a session (process group) of its own, stdout piped, registered with
the `reaper` so that its sweep of stray zombies never takes it. `kill_tree` ends a process and
its group: SIGTERM, a grace period, SIGKILL, then the leader is reaped and the group is
waited for until empty; `kill_escapees` (subreaper mode) kills what left the group.
`run_briefly` runs a quick command (a version or help flag) within a time limit.

What it must never do: signal a group it did not start, leave a started process unreaped, or
let a cancellation interrupt a kill (callers run `kill_tree` in a shielded scope).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import trio

from .._core.status import QuickRun
from ..logs import get_logger
from . import procfs, reaper, spawn

__all__ = [
    "close_pipes",
    "kill_escapees",
    "kill_now",
    "kill_tree",
    "released",
    "run_briefly",
    "start",
    "wait_exited",
]

READ_SIZE = 65536
_KILL_WAIT_S = 5.0  # after SIGKILL, only the kernel's teardown is left to wait for
_log = get_logger()


async def start(
    argv: list[str],
    *,
    env: Mapping[str, str],
    stdin: int,
    stderr: int,
    cwd: str | None = None,
) -> trio.Process:
    """Start `argv` in a new session (its own process group), stdout piped.

    Args:
        argv: the command; looked up on the ``PATH`` of `env`.
        env: its complete environment, passed on as is (`os.environ` itself: inherited
            without a copy).
        stdin: ``subprocess.PIPE`` or ``subprocess.DEVNULL``.
        stderr: ``subprocess.PIPE`` or ``subprocess.STDOUT``.
        cwd: its working directory (None: ours).

    Raises:
        OSError: it could not be started (not found, not executable, no descriptors left).
    """
    with reaper.spawning() as started:
        proc = await spawn.open_process(
            argv, env=None if env is os.environ else env, stdin=stdin, stderr=stderr, cwd=cwd
        )
        started.append(proc.pid)
    return proc


async def wait_exited(proc: trio.Process) -> None:
    """Wait until `proc` has exited, and reap it. For the one task that waits for it.

    On Linux it waits on a pidfd of its own rather than through `trio.Process.wait`, whose
    lock costs a trip through the scheduler even when nobody else waits.
    """
    if proc.poll() is not None:
        return
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux, or a kernel older than 5.3
        await proc.wait()
        return
    try:
        await trio.lowlevel.wait_readable(pidfd)
    finally:
        os.close(pidfd)
    if proc.poll() is None:  # pragma: no cover - readable means exited
        await proc.wait()


def group_has_live_members(pgid: int) -> bool:
    """True while some non-zombie process is in group `pgid`."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not sys.platform.startswith("linux"):
        return True
    # killpg succeeds for a group of zombies too (orphans that nobody reaps): look closer.
    return procfs.group_has_live_members(pgid)


def _signal_group(pgid: int, sig: signal.Signals, log: Any) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return
    except PermissionError:  # pragma: no cover - a member changed its uid
        log.warning("llminst.process.signal_refused", pgid=pgid, signal=sig.name)
        return
    log.info("llminst.process.killed", pgid=pgid, signal=sig.name)


async def _wait_gone(proc: trio.Process, deadline: float) -> bool:
    """Wait until the leader is reaped and its group is empty, or `deadline`; True if gone."""
    pause = 0.002
    while True:
        if proc.returncode is None:
            with trio.move_on_at(min(deadline, trio.current_time() + pause)):
                await proc.wait()
        if proc.returncode is not None and not group_has_live_members(proc.pid):
            return True
        now = trio.current_time()
        if now >= deadline:
            return False
        if proc.returncode is not None:  # only other members are left: poll, never past deadline
            await trio.sleep(min(pause, deadline - now))
        pause = min(pause * 2, 0.05)


async def kill_tree(proc: trio.Process, grace_s: float, *, log: Any) -> None:
    """SIGTERM the process group, wait up to `grace_s`, SIGKILL it, reap. Call shielded.

    Returns at once (without a checkpoint) when the leader is reaped and the group empty.
    Each signal sent is logged (``llminst.process.killed``) on `log`, a bound structlog logger.
    """
    if proc.poll() is None or group_has_live_members(proc.pid):
        _signal_group(proc.pid, signal.SIGTERM, log)
        if not await _wait_gone(proc, trio.current_time() + grace_s):
            _signal_group(proc.pid, signal.SIGKILL, log)
            # SIGKILL cannot be ignored; the wait only covers the kernel tearing them down.
            await _wait_gone(proc, trio.current_time() + _KILL_WAIT_S)


def kill_now(proc: trio.Process, *, log: Any, reason: str) -> None:
    """SIGKILL `proc`'s group at once, without a grace period (a runaway, for `reason`).

    The caller still ends the attempt as usual (`kill_tree` then finds the group gone and
    reaps the leader). Does nothing once the leader is reaped, so a reused PID is never hit.
    """
    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    log.info("llminst.process.killed", pgid=proc.pid, signal="SIGKILL", reason=reason)


async def kill_escapees(token: str, *, log: Any) -> None:
    """Kill and reap the attempt's descendants that left its group (subreaper mode only).

    Call once the attempt's group is gone (its escapees have been re-parented to us by then).
    Returns at once when this process is not a subreaper.
    """
    if not reaper.active():
        return
    killed: set[int] = set()
    if not reaper.sweep_once((token,), killed):  # the usual case: no scope, no checkpoint
        return
    pause = 0.001
    with trio.move_on_after(_KILL_WAIT_S):
        while True:
            await trio.sleep(pause)
            pause = min(pause * 2, 0.02)
            if not reaper.sweep_once((token,), killed):
                break
    if killed:
        log.info("llminst.process.escapees_killed", pids=sorted(killed))


def close_pipes(proc: trio.Process) -> None:
    """Close our ends of the process's pipes (no checkpoint: this runs in cleanup)."""
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if isinstance(stream, trio.lowlevel.FdStream):
            stream.close()


def released(proc: trio.Process) -> None:
    """Tell the reaper a process we started is reaped (it may take the PID's zombies again)."""
    if proc.returncode is not None:
        reaper.released(proc.pid)


async def run_briefly(argv: list[str], env: Mapping[str, str], limit_s: float) -> QuickRun:
    """Run a quick command (a version or help flag) for at most `limit_s` seconds.

    Returns what it printed (stdout and stderr) and its exit code; the exit code is None when
    it ran out of time. Its process group is killed and reaped however this ends.

    Cancellation: the process group gets SIGTERM, half a second, SIGKILL, and is reaped in a
    shielded scope before the cancellation goes on.
    """
    try:
        proc = await start(argv, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    except OSError as exc:
        return QuickRun(start_error=exc.strerror or str(exc))
    assert proc.stdout is not None
    chunks: list[bytes] = []
    try:
        with trio.move_on_after(limit_s) as scope:
            while len(chunks) < 64 and (data := await proc.stdout.receive_some(READ_SIZE)):
                chunks.append(bytes(data))
            await proc.wait()
    finally:
        with trio.CancelScope(shield=True):
            await kill_tree(proc, 0.5, log=_log.bind(probe=argv[0]))
            close_pipes(proc)
        released(proc)
    output = b"".join(chunks).decode("utf-8", "replace")
    return QuickRun(output=output, exit_code=None if scope.cancelled_caught else proc.returncode)
