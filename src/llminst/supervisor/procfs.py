"""The one reader of Linux's ``/proc``: a process's state, parent, group, start time, CPU time,
children, environment, command line, memory (a process's and the machine's available),
descriptors (and what they point at) and threads.

The supervisor asks it whether a killed process group still has live members and which of our
children escaped a call's group; tests and benchmarks use it to see whether processes are gone.
Every reader returns None (or an empty answer) for a process that is gone or unreadable, never
raises for that: a process can exit between any two reads.

What it must never do: signal, wait for or otherwise change a process; it only reads. Off Linux
(no ``/proc``) every process reads as gone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from collections.abc import Set as AbstractSet

from attrs import frozen

__all__ = [
    "ChildrenReader",
    "ProcStat",
    "available_memory_kb",
    "children",
    "cmdline",
    "cpu_seconds",
    "environ_has_any",
    "fd_count",
    "fd_targets",
    "group_has_live_members",
    "is_alive",
    "memory_kb",
    "pids",
    "read_stat",
    "self_children",
    "thread_count",
]

_DEAD_STATES = frozenset({"Z", "X"})  # a zombie (exited, not reaped) or dying
_CHILDREN_READ = 65536  # a pread's size: ~9,000 PIDs; a longer list takes more reads


@frozen
class ProcStat:
    """The fields of ``/proc/PID/stat`` llminst reads.

    Attributes:
        state: one letter: ``R`` running, ``S`` sleeping, ``Z`` zombie, ...
        ppid: the parent's PID.
        pgrp: the process group.
        start_time: when it started, in clock ticks after boot (tells a reused PID apart).
        cpu_ticks: the CPU time it has used, user plus system, in clock ticks.
    """

    state: str
    ppid: int
    pgrp: int
    start_time: int
    cpu_ticks: int

    @property
    def alive(self) -> bool:
        """Running or able to run: neither a zombie nor dying."""
        return self.state not in _DEAD_STATES


def read_stat(pid: int | str) -> ProcStat | None:
    """``/proc/PID/stat`` of `pid` (or ``"self"``), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: the fields after it start
    # after its last ")".
    fields = stat[stat.rfind(b")") + 2 :].split()
    return ProcStat(
        state=fields[0].decode(),
        ppid=int(fields[1]),
        pgrp=int(fields[2]),
        start_time=int(fields[19]),
        cpu_ticks=int(fields[11]) + int(fields[12]),
    )


def cpu_seconds(pid: int | str = "self") -> float | None:
    """The CPU time `pid` has used, user plus system, in seconds; None if it is gone."""
    stat = read_stat(pid)
    return None if stat is None else stat.cpu_ticks / os.sysconf("SC_CLK_TCK")


def is_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a reaped-never orphan counts as gone)."""
    stat = read_stat(pid)
    return stat is not None and stat.alive


def pids() -> Iterator[int]:
    """Every PID on the machine (that this process can see)."""
    try:
        entries = os.scandir("/proc")
    except OSError:
        return
    with entries:
        for entry in entries:
            if entry.name.isdigit():
                yield int(entry.name)


def group_has_live_members(pgid: int) -> bool:
    """True while a process of group `pgid` is alive (zombies do not count).

    Reads every process's stat: call it only once signalling the group showed it is not empty.
    """
    for pid in pids():
        stat = read_stat(pid)
        if stat is not None and stat.pgrp == pgid and stat.alive:
            return True
    return False


class ChildrenReader:
    """`self_children` through one descriptor kept open: a ``pread`` per read (~2 us) instead
    of an open, a read and a close (~35 us). The subreaper reads the list after every attempt.

    Open it with `open` and end it with `close`; a read in a forked child opens its own.
    """

    def __init__(self) -> None:
        self._fd: int | None = None
        self._pid = 0

    def open(self) -> None:
        self.close()
        self._pid = os.getpid()
        try:
            self._fd = os.open(f"/proc/self/task/{self._pid}/children", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._fd = None  # not Linux, or no such file: every read falls back to `self_children`

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def read(self) -> set[int]:
        """This process's children, as `self_children` gives them."""
        if self._pid != os.getpid():  # a forked child holds its parent's list: open its own
            self.open()
        fd = self._fd
        if fd is None:
            return self_children()
        listed = b""
        try:
            while chunk := os.pread(fd, _CHILDREN_READ, len(listed)):
                listed += chunk
                if len(chunk) < _CHILDREN_READ:
                    break
        except OSError:
            return self_children()
        return {int(p) for p in listed.split()}


def self_children() -> set[int]:
    """This process's children, as its main thread sees them.

    The kernel re-parents an orphan to the first live thread of its subreaper (the main thread
    while it lives), whereas trio starts processes from worker threads, whose children are
    listed under their own task. Reading only the main thread's list keeps it cheap (one small
    read instead of one per thread, each listing every running CLI); once the main thread has
    exited, every thread's list is read.
    """
    found: set[int] = set()
    try:
        with open(f"/proc/self/task/{os.getpid()}/children") as f:
            found.update(int(p) for p in f.read().split())
        return found
    except OSError:
        pass
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                found.update(int(p) for p in f.read().split())
        except OSError:
            continue
    return found


def environ_has_any(pid: int, entries: AbstractSet[bytes]) -> bool:
    """Whether `pid`'s environment holds one of `entries` (``b"NAME=value"``)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return not entries.isdisjoint(f.read().split(b"\0"))
    except OSError:
        return False


def cmdline(pid: int) -> bytes | None:
    """`pid`'s command line (arguments separated by NULs); empty while it exits; None if gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return None


def memory_kb(pid: int | str = "self") -> dict[str, int]:
    """``VmRSS`` (resident now) and ``VmHWM`` (its peak) of `pid`, in KiB; empty if gone."""
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(value.split()[0])
    except OSError:
        return {}
    return found


def children(pid: int) -> list[int]:
    """`pid`'s children (those of every thread of it); empty if it is gone."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.extend(int(p) for p in f.read().split())
        except OSError:
            continue
    return found


def available_memory_kb() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` (what can be allocated without swapping), in KiB;
    None where it cannot be read."""
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def fd_count(pid: int | str = "self") -> int:
    """How many file descriptors `pid` has open (0 if gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def fd_targets(pid: int | str = "self") -> list[str]:
    """What each descriptor of `pid` points at (``socket:[INODE]``, ``pipe:[INODE]``, a path);
    descriptors closed while reading are left out; empty if gone."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []
    targets = []
    for name in names:
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{name}"))
        except OSError:
            continue
    return targets


def thread_count(pid: int | str = "self") -> int:
    """How many threads `pid` has (0 if gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0
