"""Processes seen from the tests: /proc read through `llminst.supervisor.procfs`, and the
checks built on it.

The readers here (`state`, `is_alive`, `parent`, `start_time`, `all_pids`, `children`,
`descendants`; `cmdline`, `processes_with_marker`, `processes_with_env`, `child_with`;
`fd_count`, `fd_targets`, `thread_count`, `memory_kb`) parse nothing themselves: procfs is the
one /proc reader. They never change a process. `is_alive` counts zombies as gone (PID 1 here
does not reap orphans); `tree_leftovers` does not, for tests of a server that must reap its
trees itself. `fd_count`, `thread_count` and `memory_kb` raise ProcessLookupError for a process
that is gone (procfs answers 0 or nothing), so a leak check never passes on a vanished server.
The helpers below the reader wait for PIDs a helper CLI records, stop servers a test started,
and kill a process with its tree as a machine that dies (`kill_machine`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

import trio

from llminst.supervisor import procfs
from llminst.supervisor.procfs import cmdline, fd_targets, is_alive

__all__ = [
    "all_pids",
    "child_with",
    "children",
    "cmdline",
    "descendants",
    "fd_count",
    "fd_targets",
    "is_alive",
    "kill_machine",
    "memory_kb",
    "parent",
    "processes_with_env",
    "processes_with_marker",
    "read_pids",
    "start_time",
    "start_times",
    "state",
    "stop_server",
    "thread_count",
    "tree_leftovers",
    "wait_for_pids",
]

# --------------------------------------------------------------------------------------------
# Readers over procfs


def state(pid: int) -> str | None:
    """The one-letter state of `pid` (R, S, D, Z, X, ...), or None if it is gone."""
    stat = procfs.read_stat(pid)
    return None if stat is None else stat.state


def parent(pid: int) -> int | None:
    """The parent PID of `pid`, or None if it is gone."""
    stat = procfs.read_stat(pid)
    return None if stat is None else stat.ppid


def start_time(pid: int) -> int | None:
    """When `pid` started (clock ticks after boot), or None if it is gone: tells reuse apart."""
    stat = procfs.read_stat(pid)
    return None if stat is None else stat.start_time


def all_pids() -> list[int]:
    """Every process on the host."""
    return list(procfs.pids())


def children(pid: int) -> list[tuple[int, str]]:
    """(PID, state) of the direct children of `pid`, zombies included."""
    return [(child, st) for child, parent_pid, st in _parentage() if parent_pid == pid]


def descendants(pid: int) -> list[tuple[int, str]]:
    """(PID, state) of every process below `pid`, zombies included."""
    below: dict[int, list[tuple[int, str]]] = {}
    for child, parent_pid, st in _parentage():
        below.setdefault(parent_pid, []).append((child, st))
    found: list[tuple[int, str]] = []
    todo = [pid]
    while todo:
        for child in below.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def _parentage() -> Iterable[tuple[int, int, str]]:
    for pid in procfs.pids():
        stat = procfs.read_stat(pid)
        if stat is not None:
            yield pid, stat.ppid, stat.state


def processes_with_marker(marker: str) -> list[int]:
    """PIDs of live (non-zombie) processes whose command line contains `marker`."""
    needle = marker.encode()
    return [pid for pid in procfs.pids() if needle in (cmdline(pid) or b"") and is_alive(pid)]


def processes_with_env(name: str, value: str, *, exclude: Iterable[int] = ()) -> list[int]:
    """Live (non-zombie) processes whose environment has NAME=VALUE, but for `exclude`."""
    needle = frozenset({f"{name}={value}".encode()})
    skip = set(exclude)
    return [
        pid
        for pid in procfs.pids()
        if pid not in skip and procfs.environ_has_any(pid, needle) and is_alive(pid)
    ]


def child_with(text: str, *, parent_pid: int | None = None) -> int:
    """The PID of the child of `parent_pid` (default: this process) whose command line holds
    `text`."""
    parent_pid = os.getpid() if parent_pid is None else parent_pid
    for pid, _ in children(parent_pid):
        if text.encode() in (cmdline(pid) or b""):
            return pid
    raise LookupError(f"no child of {parent_pid} has {text!r} in its command line")


def fd_count(pid: int | str = "self") -> int:
    """How many descriptors `pid` (default: this process) holds open; raises if it is gone."""
    count = procfs.fd_count(pid)
    if count == 0 and procfs.read_stat(pid) is None:
        raise ProcessLookupError(pid)
    return count


def thread_count(pid: int) -> int:
    """How many threads `pid` has; raises if it is gone."""
    count = procfs.thread_count(pid)
    if count == 0:
        raise ProcessLookupError(pid)
    return count


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (the peak of VmRSS) of `pid`, in KiB; raises if gone."""
    found = procfs.memory_kb(pid)
    if not found and procfs.read_stat(pid) is None:
        raise ProcessLookupError(pid)
    return found


# --------------------------------------------------------------------------------------------
# Checks built on the reader


def start_times(pids: list[int]) -> dict[int, int]:
    """PID -> start time of the processes of `pids` (all must be running)."""
    times = {pid: start_time(pid) for pid in pids}
    gone = [pid for pid, began in times.items() if began is None]
    assert not gone, f"already gone, so they could not be told from a reused PID: {gone}"
    return {pid: began for pid, began in times.items() if began is not None}


def tree_leftovers(started: dict[int, int], marker: str) -> list[str]:
    """Processes of `started` (PID -> start time) still present, in any state, plus live
    processes carrying `marker`.

    Presence is judged by the start time alone: a process in the middle of exiting (its
    command line already unreadable) or a zombie is still there.
    """
    found = []
    for pid, began in started.items():
        stat = procfs.read_stat(pid)
        if stat is not None and stat.start_time == began:
            found.append(f"{pid} ({stat.state})")
    found += [f"{pid} (marker)" for pid in processes_with_marker(marker)]
    return found


# --------------------------------------------------------------------------------------------
# PIDs recorded by the helper CLI, and servers a test started


def read_pids(pidfile: Path) -> list[int]:
    if not pidfile.exists():
        return []
    return [int(line) for line in pidfile.read_text().split()]


async def wait_for_pids(pidfile: Path, count: int, *, within_s: float = 10.0) -> list[int]:
    with trio.fail_after(within_s):
        # The PIDs are written by other processes: polling the file is the only way to see them.
        while len(read_pids(pidfile)) < count:  # noqa: ASYNC110
            await trio.sleep(0.01)
    return read_pids(pidfile)


async def stop_server(proc: trio.Process, *, grace_s: float = 5.0) -> None:
    """SIGTERM a server the test started, SIGKILL it after `grace_s`, and reap it (shielded)."""
    with trio.CancelScope(shield=True):
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            with trio.move_on_after(grace_s):
                await proc.wait()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


def kill_machine(pid: int, *, within_s: float = 60.0) -> None:
    """SIGKILL `pid` and every process below it as if their machine died: none of them sees
    another die first.

    Killing the CLIs and then their parent leaves the parent a moment, on a loaded machine a
    long one, to see its CLI killed and record the call as failed. So `pid` is frozen first
    (SIGSTOP, and every thread of it seen stopped), then the tree below it and `pid` are
    killed. Synchronous on purpose: nothing else in the test may run in between.
    """
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + within_s
    while not _all_threads_stopped(pid):
        assert time.monotonic() < deadline, f"{pid} did not stop within {within_s} s"
        time.sleep(0.001)
    for child, _state in descendants(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)


def _all_threads_stopped(pid: int) -> bool:
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return True  # gone already: nothing of it can run
    states = [procfs.read_stat(f"{pid}/task/{tid}") for tid in threads]
    return all(stat is None or stat.state in "TtZX" for stat in states)
