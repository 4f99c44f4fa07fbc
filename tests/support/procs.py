"""Checks that processes are gone.

`is_alive` counts zombies as gone (PID 1 here does not reap orphans); `tree_leftovers` does not,
for tests of a server that must reap its trees itself.
"""

from __future__ import annotations

import os
import signal
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


def start_time(pid: int) -> int | None:
    """When `pid` started (clock ticks after boot), or None if it is gone: tells reuse apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return int(stat[stat.rfind(b")") + 2 :].split()[19])


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
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if int(fields[19]) == began:
            found.append(f"{pid} ({fields[0].decode()})")
    found += [f"{pid} (marker)" for pid in processes_with_marker(marker)]
    return found


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
