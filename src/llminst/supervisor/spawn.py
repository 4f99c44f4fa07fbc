"""How a process is started: on the trio thread when llminst runs nothing else, otherwise as
`trio.lowlevel.open_process` does it, from a worker thread.

`trio.lowlevel.open_process` runs `subprocess.Popen` in a worker thread, so that a slow start
never blocks the event loop. The hop costs two thread wake-ups per process, about 0.2 ms of a
1.2-ms call on a 2-core VM (`python -m benchmarks --only overhead`). On Linux a start is a
``vfork`` and an ``exec``: the loop would be blocked for about that long. So when no other
process started by llminst is running or starting (`reaper.alone`: a single call, the case
whose latency a user sees) `open_process` starts it on the trio thread and skips the hop;
while others run, their streams keep the loop, and the start goes through the worker thread.

The pipes, the session and the `trio.Process` are those `trio.lowlevel.open_process` makes;
the process is built with trio's own (private) constructor, and `INLINE` is False, so every
start takes the worker thread, if a trio release drops it (`tests/supervisor/test_parts.py`
checks that it is there).

What it must never do: leave a pipe end open when a start fails, or block the loop while
another llminst process is running.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

import trio
from trio.lowlevel import FdStream

from . import reaper

__all__ = ["INLINE", "open_process"]

INLINE = os.name == "posix" and callable(getattr(trio.Process, "_create", None))


async def open_process(
    argv: list[str],
    *,
    env: Mapping[str, str] | None,
    stdin: int,
    stderr: int,
    cwd: str | None,
) -> trio.Process:
    """Start `argv` in a new session with stdout piped (`stdin`: ``PIPE`` or ``DEVNULL``;
    `stderr`: ``PIPE`` or ``STDOUT``; `env` None: this process's, inherited as is).

    Raises:
        OSError: it could not be started.
    """
    if INLINE and reaper.alone():
        return _start_here(argv, env=env, stdin=stdin, stderr=stderr, cwd=cwd)
    return await trio.lowlevel.open_process(
        argv,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=stderr,
        start_new_session=True,
        env=env,
        cwd=cwd,
    )


def _start_here(
    argv: list[str],
    *,
    env: Mapping[str, str] | None,
    stdin: int,
    stderr: int,
    cwd: str | None,
) -> trio.Process:
    """`trio.lowlevel.open_process` on this thread: the same pipes, the same process object."""
    ours: list[FdStream] = []  # our ends: closed if the start fails
    theirs: list[int] = []  # the child's ends: closed once it has them (or it failed)
    try:
        trio_stdin = None
        if stdin == subprocess.PIPE:
            child_end, our_end = os.pipe()
            theirs.append(child_end)
            ours.append(trio_stdin := FdStream(our_end))
            stdin = child_end
        our_end, stdout = os.pipe()
        theirs.append(stdout)
        ours.append(trio_stdout := FdStream(our_end))
        trio_stderr = None
        if stderr == subprocess.STDOUT:
            stderr = stdout
        elif stderr == subprocess.PIPE:
            our_end, stderr = os.pipe()
            theirs.append(stderr)
            ours.append(trio_stderr := FdStream(our_end))
        popen = subprocess.Popen(
            argv,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            env=env,
            cwd=cwd,
        )
    except BaseException:
        for stream in ours:
            stream.close()
        raise
    finally:
        for fd in theirs:
            os.close(fd)
    return trio.Process._create(popen, trio_stdin, trio_stdout, trio_stderr)
