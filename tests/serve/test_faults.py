"""Fault injection through a real `llminst serve` over stdio: each fault of
tests/support/faults.py ends in a tool result, and nothing is left behind.

After every fault: no process of the call's tree is alive or a zombie (by the PIDs the helper CLI
records and by a marker in the command line), and the server's descriptors and the test's are
back to their starting count. Each fault prints its cleanup time (deadline to answer, or the
call's start to answer). The same faults through the supervisor API:
tests/supervisor/test_faults.py.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from llminst._core.errors import ProcessFailedError

from ..support.config import write_config
from ..support.faults import (
    CAP,
    FAULTS,
    GRACE,
    check_outcome,
    leftovers,
    nothing_left,
    spec_fields,
)
from ..support.procs import fd_count, read_pids
from ..support.serve import raw_stdio_server, read_until_result, result_text, send_lines


@attrs.frozen
class _StructuredResult:
    """A tool's structured result, read through the names `check_outcome` uses on a CallResult."""

    content: dict[str, Any]

    @property
    def output(self) -> str:
        return str(self.content["output"])

    @property
    def truncated(self) -> bool:
        return bool(self.content["truncated"])


def _write_config(tmp_path: Path, name: str, pidfile: Path, marker: str) -> Path:
    fields = spec_fields(name, FAULTS[name], pidfile, marker)
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
            gone = leftovers(read_pids(pidfile), marker)
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
        check_outcome(name, fault, None, error)
    else:
        assert not result.get("isError"), text[:200]
        check_outcome(name, fault, _StructuredResult(result["structuredContent"]), None)
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
