"""Checks that processes are gone (zombies count as gone: PID 1 here does not reap orphans)."""

from __future__ import annotations

import os
from pathlib import Path

import trio


def is_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat[stat.rfind(b")") + 2 :].split()[0]
    return state not in (b"Z", b"X")


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


def processes_with_marker(marker: str) -> list[int]:
    """PIDs of live (non-zombie) processes whose command line contains `marker`."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline and is_alive(int(entry.name)):
            found.append(int(entry.name))
    return found
