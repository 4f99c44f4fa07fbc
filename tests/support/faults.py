"""Faults a CLI can commit (tests/support/fakecli.py modes), and the checks that follow each one.

`FAULTS` names each fault with the helper's arguments, how many PIDs it records, and how it
ends (``ok``, ``cancel``: hangs until cancelled, ``failed``). `nothing_left` waits (bounded)
until none of the recorded PIDs nor any process carrying the marker is left and this process's
descriptors are back to their count; `check_outcome` holds the result or error to what a caller
can act on. The same faults run through the supervisor (tests/supervisor/test_faults.py) and a
real `llminst serve` (tests/serve/test_faults.py).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from llminst._core.errors import LLMError, ProcessFailedError

from .paths import FAKECLI
from .procs import cmdline, fd_count, processes_with_marker, read_pids, state

CAP = 1 << 20  # the output cap for the flood and long-line faults
GRACE = 0.5
BAD_BYTES = "fffe0041004200c3280a"  # invalid UTF-8 and NULs around "A" and "B"


@attrs.frozen
class Fault:
    args: tuple[str, ...]
    pids: int = 1  # processes the helper records once it is running
    outcome: str = "ok"  # ok | cancel (hangs until cancelled) | failed
    spec: dict[str, Any] = attrs.Factory(dict)
    prompt: str = "hello"


FAULTS = {
    "hang": Fault(("hang",), outcome="cancel"),
    "ignore-term": Fault(("ignore-term",), outcome="cancel"),
    "grandchildren": Fault(("grandchildren", "3"), pids=4),
    "setsid-grandchild": Fault(("setsid-child",), pids=2, outcome="cancel"),
    "double-fork-setsid": Fault(("double-fork",), pids=2, outcome="cancel"),
    "close-stdout": Fault(("close-stdout",), outcome="cancel"),
    "flood-100MB": Fault(("flood", str(100 << 20))),
    "line-20MB-text": Fault(("line", str(20 << 20))),
    "line-20MB-claude": Fault(
        ("line", str(20 << 20), "claude"), spec={"output_format": "claude-stream-json"}
    ),
    "invalid-utf8-nul": Fault(("bytes", BAD_BYTES)),
    "die-SEGV": Fault(("die", "SEGV"), outcome="failed"),
    "die-KILL": Fault(("die", "KILL"), outcome="failed"),
    "exit-before-stdin": Fault(
        ("exit-early", "3"), outcome="failed", spec={"prompt_mode": "stdin"}, prompt="p" * (4 << 20)
    ),
}


def leftovers(pids: list[int], marker: str) -> list[str]:
    """Recorded PIDs still present (alive or zombie) plus live processes carrying `marker`."""
    found = []
    for pid in pids:
        letter, command = state(pid), cmdline(pid)
        if letter is None or command is None:
            continue
        # An exiting process has an empty command line: still present. Anything else without
        # the helper's name is a reused PID.
        if letter == "Z" or not command or b"fakecli" in command:
            found.append(f"{pid} ({letter})")
    found += [f"{pid} (marker)" for pid in processes_with_marker(marker)]
    return found


@asynccontextmanager
async def nothing_left(pidfile: Path, marker: str) -> AsyncIterator[Callable[[], float]]:
    """Yields a clock; on exit waits (bounded) for the tree to go and checks descriptors."""
    fds = fd_count()
    started = [trio.current_time()]

    def mark() -> float:
        started[0] = trio.current_time()
        return started[0]

    yield mark
    with trio.move_on_after(10):
        while leftovers(read_pids(pidfile), marker):  # noqa: ASYNC110
            await trio.sleep(0.01)
    assert not leftovers(read_pids(pidfile), marker)
    with trio.move_on_after(5):
        while fd_count() != fds:  # noqa: ASYNC110
            await trio.sleep(0.01)
    assert fd_count() == fds


def spec_fields(name: str, fault: Fault, pidfile: Path, marker: str) -> dict[str, Any]:
    return {
        "name": name,
        "command": [sys.executable, FAKECLI, *fault.args, marker],
        "env": {"FAKECLI_PIDFILE": str(pidfile), "FAKECLI_MARKER": marker},
        **fault.spec,
    }


def check_outcome(name: str, fault: Fault, result: Any, error: LLMError | None) -> None:
    """The fault ended the way a caller can act on (`result` is a CallResult or a dict)."""
    if fault.outcome == "failed":
        assert isinstance(error, ProcessFailedError), error
        if name.startswith("die-"):
            assert f"killed by signal SIG{fault.args[1]}" in error.message
        else:
            assert "exited with code 3" in error.message
            assert "exiting before reading stdin" in error.message
        return
    assert error is None, error
    output, truncated = result.output, result.truncated
    if name.startswith(("flood", "line")):
        assert truncated and len(output.encode()) <= CAP
    elif name == "invalid-utf8-nul":
        assert "A" in output and "B" in output and "\x00" in output and "\ufffd" in output
    else:
        assert output.startswith("started")
