"""`llminst cancel`: a call another llminst process runs (`llminst run`, `llminst serve` over
stdio) is cancelled through the store file: state cancelled, partial output kept, the CLI's
process tree gone, the process that ran it carrying on. Real `llminst` processes, a real SQLite
file, procfs for the tree; each test reports the measured delay from request to end.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import trio

from llminst._core.records import CallState

from ..support.config import write_config
from ..support.monitor import SLOW_STREAM, call_record, wait_for_output
from ..support.paths import LLMINST
from ..support.procs import cmdline, descendants, is_alive
from ..support.serve import raw_stdio_server, read_until_result, result_text, send_lines

ECHO_MODULE = b"llminst.echo"


def llminst(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LLMINST, *args], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


def echo_pids_below(pid: int) -> list[int]:
    return [child for child, _ in descendants(pid) if ECHO_MODULE in (cmdline(child) or b"")]


async def test_cancel_from_another_process_ends_a_runs_call_and_kills_its_tree(
    tmp_path: Path, report: Callable[..., None]
) -> None:
    store_file = tmp_path / "calls.sqlite3"
    run = await trio.lowlevel.open_process(
        [*LLMINST, "run", "--store", str(store_file), "echo", SLOW_STREAM],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        with trio.fail_after(120):
            running = await wait_for_output(store_file)
            tree = echo_pids_below(run.pid)
            assert tree, "the echo CLI runs below llminst run"
            asked = time.monotonic()
            cancelled = await trio.run_process(
                [*LLMINST, "cancel", "--store", str(store_file), running.call_id],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
            took_s = time.monotonic() - asked
            await run.wait()
    finally:
        if run.returncode is None:
            run.kill()
            await run.wait()
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.decode() == f"{running.call_id} cancelled\n"
    delay = re.search(rb"cancelled in ([0-9.]+) s", cancelled.stderr)
    assert delay is not None, cancelled.stderr
    report(
        f"llminst cancel: the call ended {float(delay.group(1)):.2f} s after the request was "
        f"written ({took_s:.2f} s for the whole cancel command, start-up included)",
        cancel_delay_s=float(delay.group(1)),
    )
    assert run.returncode == 1  # `run` reports its call's failure, without a traceback
    assert run.stderr is not None
    said = (await run.stderr.receive_some(65536)).decode()
    assert "cancelled at the request of another process" in said and "Traceback" not in said
    assert all(not is_alive(pid) for pid in tree)
    record = await call_record(store_file, running.call_id)
    assert record is not None and record.state is CallState.CANCELLED
    assert record.output_chars >= running.output_chars > 0  # the partial output is kept


def test_an_unknown_call_is_unknown_call_and_exit_1(tmp_path: Path) -> None:
    store_file = tmp_path / "calls.sqlite3"
    done = llminst("cancel", "--store", str(store_file), "no-such-call")
    assert done.returncode == 1
    assert done.stderr == (
        f"llminst: unknown_call: no call no-such-call in {store_file}; "
        "list them with llminst calls\n"
    )
    assert done.stdout == ""


def test_a_finished_call_is_left_as_it_is_and_exit_0(tmp_path: Path) -> None:
    store_file = tmp_path / "calls.sqlite3"
    assert llminst("run", "--store", str(store_file), "echo", "all done").returncode == 0
    (call_id,) = re.findall(
        r"^(\S+)\s+succeeded\s+echo",
        llminst("calls", "--store", str(store_file)).stdout,
        flags=re.M,
    )
    done = llminst("cancel", "--store", str(store_file), call_id)
    assert done.returncode == 0
    assert done.stdout == f"{call_id} succeeded\n"
    assert done.stderr == f"llminst: call {call_id} already ended (succeeded); nothing to cancel\n"
    assert "succeeded" in llminst("calls", "--store", str(store_file)).stdout


async def test_cancel_from_another_process_ends_a_servers_call_and_the_server_goes_on(
    tmp_path: Path, report: Callable[..., None]
) -> None:
    """A real `llminst serve` over stdio runs a slow call for a client; `llminst cancel` on the
    store of the same config ends it: the client gets an error saying who cancelled it, the
    tree is gone, and the server answers the next call."""
    config = write_config(tmp_path / "config.toml")
    store_file = tmp_path / "llminst.sqlite3"  # the config's [store] default: beside it
    slow = tool_call(2, {"model": "echo", "prompt": SLOW_STREAM, "timeout": 600})
    async with raw_stdio_server(config, stderr=subprocess.DEVNULL) as server:
        assert server.stdout is not None
        await send_lines(server, slow)
        with trio.fail_after(120):
            running = await wait_for_output(store_file)
        tree = echo_pids_below(server.pid)
        assert tree
        cancelled = await trio.run_process(
            [*LLMINST, "--config", str(config), "cancel", running.call_id],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        assert cancelled.returncode == 0, cancelled.stderr
        _, result = await read_until_result(server.stdout, 2)
        assert result["isError"] is True
        assert "cancelled at the request of another process" in result_text(result)
        assert all(not is_alive(pid) for pid in tree)
        await send_lines(server, tool_call(3, {"model": "echo", "prompt": "still serving"}))
        _, after = await read_until_result(server.stdout, 3)
        assert not after.get("isError") and "still serving" in result_text(after)
    delay = re.search(rb"cancelled in ([0-9.]+) s", cancelled.stderr)
    assert delay is not None, cancelled.stderr
    report(
        f"llminst cancel against llminst serve: the call ended {float(delay.group(1)):.2f} s "
        "after the request was written",
        serve_cancel_delay_s=float(delay.group(1)),
    )
    record = await call_record(store_file, running.call_id)
    assert record is not None and record.state is CallState.CANCELLED


def tool_call(request_id: int, arguments: dict[str, object]) -> dict[str, object]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "execute_llm", "arguments": arguments},
    }
