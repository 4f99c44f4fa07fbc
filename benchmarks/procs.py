"""The benchmarks' one /proc reader: process state, parentage, memory, descriptors, CPU time.

Linux only. It reads and never changes a process. `stat_fields` is the only parser of
/proc/PID/stat here (the command name may hold spaces and parentheses: the fields start after
its last ")"); everything else is built on it or reads one other /proc file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

# Indexes into `stat_fields` (proc(5) numbers the fields from 1, with the command name as 2).
STATE, PPID, UTIME, STIME = 0, 1, 11, 12


def stat_fields(pid: int | str) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 :].split()


def is_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (PID 1 here may never reap orphans)."""
    fields = stat_fields(pid)
    return fields is not None and fields[STATE] not in (b"Z", b"X")


def all_pids() -> list[int]:
    return [int(e.name) for e in os.scandir("/proc") if e.name.isdigit()]


def descendants(pid: int) -> list[tuple[int, str]]:
    """(PID, state) of every process below `pid`, zombies included."""
    children: dict[int, list[tuple[int, str]]] = {}
    for other in all_pids():
        fields = stat_fields(other)
        if fields is not None:
            children.setdefault(int(fields[PPID]), []).append((other, fields[STATE].decode()))
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
    for pid in all_pids():
        fields = stat_fields(pid)
        if fields is None or int(fields[PPID]) != parent:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if needle in f.read():
                    return pid
        except OSError:
            continue
    raise LookupError(f"no child of {parent} has {text!r} in its command line")


def processes_with_env(name: str, value: str, *, exclude: Iterable[int] = ()) -> list[int]:
    """Live (non-zombie) processes whose environment has NAME=VALUE, but for `exclude`."""
    needle = f"{name}={value}".encode()
    skip = set(exclude)
    found = []
    for pid in all_pids():
        if pid in skip:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        if needle in environ and is_alive(pid):
            found.append(pid)
    return found


def rss_kb(pid: int | str = "self", field: str = "VmRSS") -> int:
    """A memory figure of a process from /proc (kB): VmRSS, or VmHWM for the peak."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (the peak of VmRSS) of `pid`, in KiB."""
    found = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    return found


def fd_count(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time `pid` has used."""
    fields = stat_fields(pid)
    assert fields is not None, f"process {pid} is gone"
    return (int(fields[UTIME]) + int(fields[STIME])) / os.sysconf("SC_CLK_TCK")
