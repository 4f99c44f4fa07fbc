"""Child subreaper: finds, kills and reaps descendants that left their call's process group.

The supervisor kills a call by killing the process group it started the CLI in. A descendant
that calls ``setsid`` (or ``setpgid``) leaves that group, and killing the group misses it. On
Linux this module can make the current process a *child subreaper*
(``prctl(PR_SET_CHILD_SUBREAPER, 1)``): an orphan anywhere below it is then re-parented to it
instead of to PID 1. Once an attempt's group is gone, its escapees are therefore our children.
They are recognised by a marker the supervisor puts in each attempt's environment
(``LLMINST_ATTEMPT=<token>``, read from ``/proc/PID/environ``), killed with SIGKILL (they left
the group, so they get no grace period), and reaped with ``waitid(P_PID, pid)`` — one PID at a
time, never ``waitpid(-1)``, which would steal trio's own children. An escapee that already
exited is a zombie whose environment can no longer be read: zombies among our children that
llminst did not start itself (see `spawning`) are reaped too, so subreaper mode assumes that
llminst owns every child of the process (true for ``llminst serve``; why it is off by default).
It reads ``/proc`` through `procfs`.

What this module must never do: wait for a PID it did not find as an escapee or an orphaned
zombie, or signal a process that does not carry the attempt's marker.

Other platforms: `enable` returns False and nothing is done. An escapee then survives the call
(it is re-parented to PID 1 or a launchd-like init), and only process-group members are killed.
On Linux without the subreaper (the library default), escapees are likewise not found.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import sys
from collections.abc import Collection

from . import procfs

__all__ = [
    "MARKER_VAR",
    "active",
    "alone",
    "disable",
    "enable",
    "released",
    "spawning",
    "sweep_once",
]

MARKER_VAR = "LLMINST_ATTEMPT"
_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37

_enabled_by_us = 0  # nesting count of supervisors that asked for it
_previous: bool | None = None
_spawned: set[int] = set()  # children llminst started and waits for itself
_spawns_in_flight = 0  # a child may exist that is not in _spawned yet: reap no stray zombie
_children = procfs.ChildrenReader()  # open while this process is a subreaper


@functools.cache
def _libc() -> ctypes.CDLL:
    # The running interpreter is linked against libc: no ctypes.util.find_library, which runs
    # `ldconfig -p` (or a compiler) in a subprocess every time it is called.
    return ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, arg: object) -> int:
    return int(_libc().prctl(option, arg, 0, 0, 0))


def enable() -> bool:
    """Make this process a child subreaper; True if it is one now (always False off Linux)."""
    global _enabled_by_us, _previous
    if not sys.platform.startswith("linux"):
        return False
    if _enabled_by_us == 0:
        try:
            state = ctypes.c_int(0)
            _prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(state))
            if _prctl(_PR_SET_CHILD_SUBREAPER, 1) != 0:
                return False
        except (OSError, AttributeError):
            return False
        _previous = bool(state.value)
        _children.open()
    _enabled_by_us += 1
    return True


def disable() -> None:
    """Undo one `enable` that returned True; the last one restores the previous setting."""
    global _enabled_by_us
    _enabled_by_us -= 1
    if _enabled_by_us == 0:
        _children.close()
        if not _previous:
            with contextlib.suppress(OSError, AttributeError):
                _prctl(_PR_SET_CHILD_SUBREAPER, 0)


def active() -> bool:
    return _enabled_by_us > 0


def alone() -> bool:
    """Whether no process llminst started runs, and no other is being started, but the one
    being started now (call it inside `spawning`)."""
    return _spawns_in_flight <= 1 and not _spawned


class spawning:  # used as a function: ``with reaper.spawning() as started``
    """Around a spawn: append the child's PID to the list it gives and it is registered (a
    class, not a generator: it wraps every spawn)."""

    def __enter__(self) -> list[int]:
        global _spawns_in_flight
        _spawns_in_flight += 1
        self._pids: list[int] = []
        return self._pids

    def __exit__(self, *exc: object) -> None:
        global _spawns_in_flight
        _spawned.update(self._pids)
        _spawns_in_flight -= 1


def released(pid: int) -> None:
    """`pid` (started by llminst) has been reaped by its owner."""
    _spawned.discard(pid)


def _reap(pid: int) -> bool:
    """Reap `pid` if it has exited; True if it is gone."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG) is not None
    except ChildProcessError:
        return True


def sweep_once(tokens: Collection[str], killed: set[int]) -> bool:
    """One pass over our children for the attempts `tokens`; True while another pass is needed.

    Kills (SIGKILL) live children carrying one of the attempts' markers and adds them to
    `killed`; reaps those in `killed` that have exited, and zombies that llminst did not start.
    Killing an escapee re-parents its own children to us, so call again (after a short pause)
    while it returns True. Call only after the attempts' process groups are gone.
    """
    if not active():
        return False
    markers = {f"{MARKER_VAR}={token}".encode() for token in tokens}
    pending = False
    for pid in _children.read() - _spawned:
        stat = procfs.read_stat(pid)
        if stat is None:
            continue
        if not stat.alive:
            if pid in killed or _spawns_in_flight == 0:
                _reap(pid)
        elif pid in killed or procfs.environ_has_any(pid, markers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
            pending = True
    return pending
