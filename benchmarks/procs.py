"""The benchmarks' process checks: parentage, memory, descriptors, CPU time, read through
`llminst.supervisor.procfs`, the one /proc reader.

Linux only. It reads and never changes a process, and parses no /proc file itself. Unlike
procfs, which answers None, 0 or nothing for a process that is gone, every measurement here
raises for one: a benchmark must not record a vanished server as using nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from llminst.supervisor import procfs
from llminst.supervisor.procfs import is_alive

__all__ = [
    "all_pids",
    "child_with",
    "cpu_seconds",
    "descendants",
    "fd_count",
    "is_alive",
    "memory_kb",
    "processes_with_env",
    "rss_kb",
    "thread_count",
]


def all_pids() -> list[int]:
    return list(procfs.pids())


def descendants(pid: int) -> list[tuple[int, str]]:
    """(PID, state) of every process below `pid`, zombies included."""
    children: dict[int, list[tuple[int, str]]] = {}
    for other in procfs.pids():
        stat = procfs.read_stat(other)
        if stat is not None:
            children.setdefault(stat.ppid, []).append((other, stat.state))
    found: list[tuple[int, str]] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def child_with(text: str, *, parent: int | None = None) -> int:
    """The PID of the child of `parent` (default: this process) whose command line holds `text`."""
    parent = os.getpid() if parent is None else parent
    needle = text.encode()
    for pid in procfs.pids():
        stat = procfs.read_stat(pid)
        if stat is not None and stat.ppid == parent and needle in (procfs.cmdline(pid) or b""):
            return pid
    raise LookupError(f"no child of {parent} has {text!r} in its command line")


def processes_with_env(name: str, value: str, *, exclude: Iterable[int] = ()) -> list[int]:
    """Live (non-zombie) processes whose environment has NAME=VALUE, but for `exclude`."""
    needle = frozenset({f"{name}={value}".encode()})
    skip = set(exclude)
    return [
        pid
        for pid in procfs.pids()
        if pid not in skip and procfs.environ_has_any(pid, needle) and is_alive(pid)
    ]


def rss_kb(pid: int | str = "self", field: str = "VmRSS") -> int:
    """A memory figure of a process from /proc (kB): VmRSS, or VmHWM for the peak."""
    memory = procfs.memory_kb(pid)
    if field not in memory:
        raise LookupError(f"{field} not in /proc/{pid}/status")
    return memory[field]


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (the peak of VmRSS) of `pid`, in KiB; raises if gone."""
    found = procfs.memory_kb(pid)
    if not found and procfs.read_stat(pid) is None:
        raise ProcessLookupError(pid)
    return found


def fd_count(pid: int | str = "self") -> int:
    """How many descriptors `pid` holds open; raises if it is gone."""
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


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time `pid` has used."""
    seconds = procfs.cpu_seconds(pid)
    assert seconds is not None, f"process {pid} is gone"
    return seconds
