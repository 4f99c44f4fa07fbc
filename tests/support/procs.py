"""Processes seen from the tests: the one /proc reader, and the checks built on it.

The reader (`stat_fields` and what it gives: `state`, `is_alive`, `parent`, `start_time`,
`all_pids`, `children`, `descendants`; `cmdline`, `processes_with_marker`, `processes_with_env`,
`child_with`; `fd_count`, `fd_targets`, `thread_count`, `memory_kb`) is the only place in the tests that
parses /proc/PID/*. It never changes a process. `is_alive` counts zombies as gone (PID 1 here
does not reap orphans); `tree_leftovers` does not, for tests of a server that must reap its
trees itself. The helpers below the reader wait for PIDs a helper CLI records and stop servers
a test started.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable
from pathlib import Path

import trio

# --------------------------------------------------------------------------------------------
# The /proc reader

# Indexes into `stat_fields` (proc(5) numbers the fields from 1, with the command name as 2).
STATE, PPID, UTIME, STIME, STARTTIME = 0, 1, 11, 12, 19


def stat_fields(pid: int | str) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None if gone.

    The command name may hold spaces and parentheses: the fields start after its last ")".
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 :].split()


def state(pid: int) -> str | None:
    """The one-letter state of `pid` (R, S, D, Z, X, ...), or None if it is gone."""
    fields = stat_fields(pid)
    return None if fields is None else fields[STATE].decode()


def is_alive(pid: int) -> bool:
    """True for a process that exists and is not a zombie."""
    return state(pid) not in (None, "Z", "X")


def parent(pid: int) -> int | None:
    """The parent PID of `pid`, or None if it is gone."""
    fields = stat_fields(pid)
    return None if fields is None else int(fields[PPID])


def start_time(pid: int) -> int | None:
    """When `pid` started (clock ticks after boot), or None if it is gone: tells reuse apart."""
    fields = stat_fields(pid)
    return None if fields is None else int(fields[STARTTIME])


def all_pids() -> list[int]:
    """Every process on the host."""
    return [int(entry.name) for entry in os.scandir("/proc") if entry.name.isdigit()]


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
    for pid in all_pids():
        fields = stat_fields(pid)
        if fields is not None:
            yield pid, int(fields[PPID]), fields[STATE].decode()


def cmdline(pid: int) -> bytes | None:
    """The raw command line of `pid` (NUL-separated; empty while it exits), None if gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def processes_with_marker(marker: str) -> list[int]:
    """PIDs of live (non-zombie) processes whose command line contains `marker`."""
    needle = marker.encode()
    return [pid for pid in all_pids() if needle in (cmdline(pid) or b"") and is_alive(pid)]


def processes_with_env(name: str, value: str, *, exclude: Iterable[int] = ()) -> list[int]:
    """Live (non-zombie) processes whose environment has NAME=VALUE, but for `exclude`."""
    needle = f"{name}={value}".encode()
    skip = set(exclude)
    found = []
    for pid in all_pids():
        if pid in skip:
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if needle in environ and is_alive(pid):
            found.append(pid)
    return found


def child_with(text: str, *, parent_pid: int | None = None) -> int:
    """The PID of the child of `parent_pid` (default: this process) whose command line holds
    `text`."""
    parent_pid = os.getpid() if parent_pid is None else parent_pid
    for pid, _ in children(parent_pid):
        if text.encode() in (cmdline(pid) or b""):
            return pid
    raise LookupError(f"no child of {parent_pid} has {text!r} in its command line")


def fd_count(pid: int | str = "self") -> int:
    """How many descriptors `pid` (default: this process) holds open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_targets(pid: int | str = "self") -> list[str]:
    """What each descriptor of `pid` points at (``socket:[INODE]``, ``pipe:[INODE]``, a path);
    descriptors closed while reading are left out."""
    targets = []
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{name}"))
        except OSError:
            continue
    return targets


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (the peak of VmRSS) of `pid`, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
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
        fields = stat_fields(pid)
        if fields is not None and int(fields[STARTTIME]) == began:
            found.append(f"{pid} ({fields[STATE].decode()})")
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
