"""Fault injection through a real `llminst serve` over stdio: each fault of
tests/support/faults.py ends in a tool result, and nothing is left behind.

After every fault: no process of the call's tree is alive or a zombie (by the PIDs the helper CLI
records and by a marker in the command line), and the server's descriptors and the test's are
back to their starting count. Each fault prints its cleanup time (deadline to answer, or the
call's start to answer). The same faults through the supervisor API:
tests/supervisor/test_faults.py.

The faults share one server (`server`, module-scoped: starting one costs seconds of CPU on a
loaded machine), which also shows that a fault leaves the server able to serve the next call.
Each fault has a model, a PID file and a marker of its own.
"""

from __future__ import annotations

import itertools
import subprocess
import uuid
from collections.abc import Iterator
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
from ..support.serve import (
    attached,
    read_until_result,
    result_text,
    running_stdio_server,
    send_lines,
)
from ..support.tools import call_fields


@attrs.frozen
class _StructuredResult:
    """A tool's structured result, read through the names `check_outcome` uses on a CallResult."""

    content: dict[str, Any]

    @property
    def output(self) -> str:
        return str(self.content["output"])

    @property
    def truncated(self) -> bool:
        return bool(call_fields(self.content)["truncated"])


@attrs.frozen
class _Shared:
    """The server the faults share, the folder of their PID files, and the markers."""

    proc: subprocess.Popen[bytes]
    folder: Path
    markers: dict[str, str]

    def pidfile(self, name: str) -> Path:
        return self.folder / f"pids-{name}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Shared]:
    """One `llminst serve` over stdio with a model per fault, and `noexec` (a script without
    its x bit); it still exits 0 when its client goes, after all of them."""
    folder = tmp_path_factory.mktemp("faults-serve")
    markers = {name: f"fault-{uuid.uuid4().hex}" for name in FAULTS}
    models: dict[str, dict[str, Any]] = {}
    for name, fault in FAULTS.items():
        fields = spec_fields(name, fault, folder / f"pids-{name}", markers[name])
        del fields["name"]
        models[name] = fields
    script = folder / "cli"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    models["noexec"] = {"command": [str(script)]}
    config = write_config(
        folder / "llminst.toml",
        models=models,
        settings={"grace_period_s": GRACE, "max_output_bytes": CAP},
    )
    with running_stdio_server(config) as proc:
        yield _Shared(proc, folder, markers)
    assert proc.returncode == 0


_request_ids = itertools.count(2)  # one server for the module: each request an id of its own


@pytest.mark.parametrize("name", FAULTS)
async def test_fault_through_llminst_serve(name: str, server: _Shared) -> None:
    """The same faults through a real server over stdio: a tool result, and nothing left."""
    fault = FAULTS[name]
    pidfile, marker = server.pidfile(name), server.markers[name]
    timeout = 2.0 if fault.outcome == "cancel" else 60.0
    warm_up_id, call_id = next(_request_ids), next(_request_ids)
    warm_up = {
        "jsonrpc": "2.0",
        "id": warm_up_id,
        "method": "tools/call",
        "params": {"name": "execute_llm", "arguments": {"model": "echo", "prompt": "warm"}},
    }
    call = {
        "jsonrpc": "2.0",
        "id": call_id,
        "method": "tools/call",
        "params": {
            "name": "execute_llm",
            "arguments": {"model": name, "prompt": fault.prompt, "timeout": timeout},
        },
    }
    async with nothing_left(pidfile, marker) as clock:
        async with attached(server.proc) as proc:
            # The server's own descriptors: a baseline once a call has run, then after the fault.
            await send_lines(proc, warm_up)
            await read_until_result(proc.stdout, warm_up_id)
            server_fds = fd_count(proc.pid)
            start = clock()
            await send_lines(proc, call)
            _, result = await read_until_result(proc.stdout, call_id)
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


async def test_fault_not_executable_through_llminst_serve(server: _Shared) -> None:
    """Over stdio, a non-executable command is a process_failed tool error naming chmod +x."""
    call_id = next(_request_ids)
    call = {
        "jsonrpc": "2.0",
        "id": call_id,
        "method": "tools/call",
        "params": {"name": "execute_llm", "arguments": {"model": "noexec", "prompt": "x"}},
    }
    async with attached(server.proc) as proc:
        await send_lines(proc, call)
        _, result = await read_until_result(proc.stdout, call_id)
    text = result_text(result)
    assert result["isError"] and text.startswith("process_failed: "), text
    assert "not executable" in text and "chmod +x" in text
