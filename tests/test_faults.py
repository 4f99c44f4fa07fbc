"""Fault injection: CLIs that misbehave, through the supervisor API and a real `llminst serve`.

After every fault: no process the test started is alive or a zombie (by the PIDs the helper CLI
records and by a marker in the command line), and the test's open descriptors (through
`llminst serve`, the server's too) are back to their starting count. Each fault prints its cleanup
time (deadline or cancel to tree gone).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from llminst._core.config import ModelSpec, OutputFormat, PromptMode, Settings
from llminst.errors import LLMError, ProcessFailedError
from llminst.supervisor import open_supervisor

from .support.config import write_config
from .support.models import models_with
from .support.paths import FAKECLI
from .support.procs import (
    cmdline,
    fd_count,
    processes_with_marker,
    read_pids,
    state,
    wait_for_pids,
)
from .support.serve import raw_stdio_server, read_until_result, result_text, send_lines

CAP = 1 << 20  # the output cap for the flood and long-line faults
GRACE = 0.5
SETTINGS = Settings(grace_period_s=GRACE, max_output_bytes=CAP)
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


def _leftovers(pids: list[int], marker: str) -> list[str]:
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
        while _leftovers(read_pids(pidfile), marker):  # noqa: ASYNC110
            await trio.sleep(0.01)
    assert not _leftovers(read_pids(pidfile), marker)
    with trio.move_on_after(5):
        while fd_count() != fds:  # noqa: ASYNC110
            await trio.sleep(0.01)
    assert fd_count() == fds


def _spec_fields(name: str, fault: Fault, pidfile: Path, marker: str) -> dict[str, Any]:
    return {
        "name": name,
        "command": [sys.executable, FAKECLI, *fault.args, marker],
        "env": {"FAKECLI_PIDFILE": str(pidfile), "FAKECLI_MARKER": marker},
        **fault.spec,
    }


def _spec(fault: Fault, pidfile: Path, marker: str) -> ModelSpec:
    fields = _spec_fields("fault", fault, pidfile, marker)
    fields["command"] = tuple(fields["command"])
    if "output_format" in fields:
        fields["output_format"] = OutputFormat(fields["output_format"])
    if "prompt_mode" in fields:
        fields["prompt_mode"] = PromptMode(fields["prompt_mode"])
    return ModelSpec(**fields)


@attrs.frozen
class _StructuredResult:
    """A tool's structured result, read through the names `_check_outcome` uses on a CallResult."""

    content: dict[str, Any]

    @property
    def output(self) -> str:
        return str(self.content["output"])

    @property
    def truncated(self) -> bool:
        return bool(self.content["truncated"])


def _check_outcome(name: str, fault: Fault, result: Any, error: LLMError | None) -> None:
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


@pytest.mark.parametrize("name", list(FAULTS))
async def test_fault_through_the_supervisor(name: str, tmp_path: Path) -> None:
    """Each fault ends in a clear result or error and leaves no process or descriptor behind."""
    fault = FAULTS[name]
    pidfile, marker = tmp_path / "pids", f"fault-{uuid.uuid4().hex}"
    spec = _spec(fault, pidfile, marker)
    async with nothing_left(pidfile, marker) as clock:
        async with open_supervisor(
            models=models_with(spec), settings=SETTINGS, subreaper=True
        ) as supervisor:
            result, error = None, None
            async with trio.open_nursery() as nursery:

                async def call() -> None:
                    nonlocal result, error
                    try:
                        result = await supervisor.run("fault", fault.prompt, timeout=60)
                    except LLMError as exc:
                        error = exc

                start = clock()
                nursery.start_soon(call)
                if fault.outcome == "cancel":
                    await wait_for_pids(pidfile, fault.pids)
                    await trio.sleep(0.2)  # let it reach its misbehaviour
                    start = clock()
                    nursery.cancel_scope.cancel()
            elapsed = trio.current_time() - start
        if fault.outcome != "cancel":
            _check_outcome(name, fault, result, error)
    what = "cancel to tree gone" if fault.outcome == "cancel" else "call, start to tree gone"
    print(f"FAULT {name} [supervisor]: {what} {elapsed:.3f} s")
    if fault.outcome == "cancel":
        assert elapsed < GRACE + 5.0


# --------------------------------------------------------------------------------------------
# Through a real `llminst serve` over stdio


def _write_config(tmp_path: Path, name: str, pidfile: Path, marker: str) -> Path:
    fields = _spec_fields(name, FAULTS[name], pidfile, marker)
    del fields["name"]
    return write_config(
        tmp_path / "llminst.toml",
        models={name: fields},
        settings={"grace_period_s": GRACE, "max_output_bytes": CAP},
    )


@pytest.mark.parametrize("name", FAULTS)
async def test_fault_through_llminst_serve(name: str, tmp_path: Path) -> None:
    """The same faults through a real server over stdio: a tool result, and nothing left."""
    fault = FAULTS[name]
    pidfile, marker = tmp_path / "pids", f"fault-{uuid.uuid4().hex}"
    config = _write_config(tmp_path, name, pidfile, marker)
    timeout = 2.0 if fault.outcome == "cancel" else 60.0
    warm_up = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "execute_llm", "arguments": {"model": "echo", "prompt": "warm"}},
    }
    call = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {
            "name": "execute_llm",
            "arguments": {"model": name, "prompt": fault.prompt, "timeout": timeout},
        },
    }
    async with nothing_left(pidfile, marker) as clock:
        async with raw_stdio_server(config) as proc:
            assert proc.stdout is not None
            # The server's own descriptors: a baseline once a call has run, then after the fault.
            await send_lines(proc, warm_up)
            await read_until_result(proc.stdout, 2)
            server_fds = fd_count(proc.pid)
            start = clock()
            await send_lines(proc, call)
            _, result = await read_until_result(proc.stdout, 3)
            elapsed = trio.current_time() - start
            gone = _leftovers(read_pids(pidfile), marker)
            with trio.move_on_after(5):
                while fd_count(proc.pid) != server_fds:  # noqa: ASYNC110
                    await trio.sleep(0.01)
            server_fds_after = fd_count(proc.pid)
        assert not gone, f"left when the answer came: {gone}"
        assert server_fds_after == server_fds, f"server fds {server_fds} -> {server_fds_after}"
    text = result_text(result)
    fds = f"server fds {server_fds} -> {server_fds_after}"
    if fault.outcome == "cancel":
        assert result["isError"] and text.startswith("timeout: "), text[:200]
        cleanup = elapsed - timeout
        print(f"FAULT {name} [stdio]: deadline to answer (tree gone) {cleanup:.3f} s; {fds}")
        assert cleanup < GRACE + 5.0
        return
    if fault.outcome == "failed":
        assert result["isError"] and text.startswith("process_failed: "), text[:200]
        error = ProcessFailedError(text.removeprefix("process_failed: "), exit_code=None)
        _check_outcome(name, fault, None, error)
    else:
        assert not result.get("isError"), text[:200]
        _check_outcome(name, fault, _StructuredResult(result["structuredContent"]), None)
    print(f"FAULT {name} [stdio]: call, start to answer (tree gone) {elapsed:.3f} s; {fds}")


async def test_fault_not_executable_through_llminst_serve(tmp_path: Path) -> None:
    """Over stdio, a non-executable command is a process_failed tool error naming chmod +x."""
    script = tmp_path / "cli"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    config = write_config(tmp_path / "llminst.toml", models={"noexec": {"command": [str(script)]}})
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "execute_llm", "arguments": {"model": "noexec", "prompt": "x"}},
    }
    async with raw_stdio_server(config) as proc:
        assert proc.stdout is not None
        await send_lines(proc, call)
        _, result = await read_until_result(proc.stdout, 2)
    text = result_text(result)
    assert result["isError"] and text.startswith("process_failed: "), text
    assert "not executable" in text and "chmod +x" in text
    assert proc.returncode == 0
