"""An attempt's pipes read in one task (Linux: `pumps.Watch`) or by a task per pipe (elsewhere)
behave alike: every test here runs both ways, with real processes (tests/support/fakecli.py and
tiny Python CLIs), including the pipe an escaped descendant holds open after the CLI exits."""

from __future__ import annotations

import base64
import json
import os
import signal
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
from structlog.testing import capture_logs

from llminst import (
    ApiUnreachableError,
    CallTimeoutError,
    ModelSpec,
    ProcessFailedError,
    PromptMode,
    Settings,
    open_supervisor,
)
from llminst.supervisor import attempt as attempt_module

from ..support.models import models_with
from ..support.paths import FAKECLI
from ..support.procs import is_alive, processes_with_marker, read_pids

SETTINGS = Settings(grace_period_s=0.5, max_output_bytes=1 << 20)


@pytest.fixture(params=["one-task", "task-per-pipe"])
def drain(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with each way of reading an attempt's pipes."""
    if request.param == "one-task" and not attempt_module.Watch.available():
        pytest.skip("needs epoll and pidfds (Linux)")
    monkeypatch.setattr(attempt_module, "ONE_TASK", request.param == "one-task")
    return str(request.param)


def escapee_cli(tmp_path: Path, marker: str) -> ModelSpec:
    """A CLI whose grandchild leaves the group (setsid) holding stdout, then answers, exits 0."""
    script = tmp_path / "escapee.py"
    script.write_text(
        "import subprocess, sys\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', sys.argv[1]],"
        " start_new_session=True)\n"
        "print('answer', flush=True)\n"
    )
    return ModelSpec(name="escapee", command=(sys.executable, str(script), marker))


async def test_an_answer_is_read_whole(drain: str) -> None:
    """The echo CLI's answer, streamed in chunks, arrives whole and in order."""
    async with (
        open_supervisor() as sup,
        sup.open_stream("echo", "[[echo:delay=0.01]] a b c d e") as stream,
    ):
        chunks = [chunk async for chunk in stream]
        result = await stream.wait()
    assert "".join(chunks) == result.output == "a b c d e"


async def test_a_prompt_on_stdin_is_written_whole(
    drain: str, fake_spec: Callable[..., ModelSpec]
) -> None:
    """4 MiB of prompt through stdin (many pipe-fulls) reach the CLI byte for byte."""
    spec = fake_spec("dump", prompt_mode=PromptMode.STDIN)
    prompt = "0123456789abcdef" * (1 << 18)
    async with open_supervisor(models=models_with(spec), settings=Settings()) as sup:
        result = await sup.run("fake", prompt, timeout=120)
    assert base64.b64decode(json.loads(result.output)["stdin"]) == prompt.encode()


async def test_a_cli_that_exits_before_reading_stdin_fails_without_a_hang(
    drain: str, fake_spec: Callable[..., ModelSpec]
) -> None:
    """Its exit code and stderr are reported; the unwritten prompt is dropped quietly."""
    spec = fake_spec("exit-early", "3", prompt_mode=PromptMode.STDIN)
    async with open_supervisor(models=models_with(spec), settings=SETTINGS) as sup:
        with trio.fail_after(60), pytest.raises(ProcessFailedError) as info:
            await sup.run("fake", "p" * (4 << 20), timeout=60)
    assert info.value.exit_code == 3
    assert "exiting before reading stdin" in info.value.stderr_tail


async def test_grandchildren_holding_the_pipes_are_killed_when_the_cli_exits(
    drain: str, fake_spec: Callable[..., ModelSpec], pidfile: Path
) -> None:
    """The CLI exits 0 while 3 grandchildren in its group hold its pipes: they are killed, the
    answer is returned at once (not at the deadline)."""
    spec = fake_spec("grandchildren", "3")
    async with open_supervisor(models=models_with(spec), settings=SETTINGS) as sup:
        with trio.fail_after(30):
            result = await sup.run("fake", "hi", timeout=60)
    assert result.success and result.output == "started\n"
    pids = read_pids(pidfile)
    assert len(pids) == 4 and not [pid for pid in pids if is_alive(pid)]


async def test_output_over_the_cap_is_truncated_while_the_cli_is_drained(
    drain: str, fake_spec: Callable[..., ModelSpec]
) -> None:
    """8 MiB against a 1 MiB cap: 1 MiB kept, the rest read and dropped, the CLI not blocked."""
    spec = fake_spec("flood", str(8 << 20))
    async with open_supervisor(models=models_with(spec), settings=SETTINGS) as sup:
        result = await sup.run("fake", "hi", timeout=60)
    assert result.success and result.truncated and len(result.output) == 1 << 20


async def test_a_repeated_error_stops_the_cli_early(drain: str, pidfile: Path) -> None:
    """Three connection errors on stderr of a CLI that hangs: stopped, its tree killed."""
    script = pidfile.parent / "script.json"
    lines = [{"stderr": f"attempt {n}: connection refused"} for n in range(3)]
    script.write_text(json.dumps({"lines": lines, "exit": None}))
    spec = ModelSpec(
        name="fake",
        command=(sys.executable, FAKECLI, "script", str(script)),
        env={"FAKECLI_PIDFILE": str(pidfile)},
    )
    async with open_supervisor(models=models_with(spec), settings=SETTINGS) as sup:
        with capture_logs() as logs, pytest.raises(ApiUnreachableError):
            await sup.run("fake", "hi", timeout=60)
    assert [e["event"] for e in logs].count("llminst.attempt.stopped_early") == 1
    assert not [pid for pid in read_pids(pidfile) if is_alive(pid)]


async def test_a_deadline_kills_a_hanging_cli(
    drain: str, fake_spec: Callable[..., ModelSpec], pidfile: Path
) -> None:
    """A CLI that prints and hangs times out; the partial output is kept, the tree is gone."""
    spec = fake_spec("hang-tree")
    async with open_supervisor(models=models_with(spec), settings=SETTINGS) as sup:
        with pytest.raises(CallTimeoutError) as info:
            await sup.run("fake", "hi", timeout=1.0)
    assert info.value.partial_output == "started\n"
    assert not [pid for pid in read_pids(pidfile) if is_alive(pid)]


async def test_a_pipe_an_escapee_holds_is_given_up_a_second_after_the_exit(
    drain: str, tmp_path: Path
) -> None:
    """Library mode (no subreaper): the escapee outlives the call, but the call returns the
    answer about `EOF_LINGER_S` after the CLI exited, saying the pipes were abandoned."""
    marker = f"llminst-escapee-{uuid.uuid4().hex}"
    spec = escapee_cli(tmp_path, marker)
    try:
        async with open_supervisor(models=models_with(spec), settings=SETTINGS) as sup:
            with capture_logs() as logs, trio.fail_after(30):
                start = trio.current_time()
                result = await sup.run("escapee", "hi", timeout=60)
                elapsed = trio.current_time() - start
        assert result.success and result.output == "answer\n"
        assert elapsed >= attempt_module.EOF_LINGER_S
        finished = [e for e in logs if e["event"] == "llminst.attempt.finished"]
        assert [e["pipes_abandoned"] for e in finished] == [True]
        assert processes_with_marker(marker)  # not ours to kill without the subreaper
    finally:
        _kill_marked(marker)


async def test_in_subreaper_mode_the_escapee_is_killed_and_the_pipe_ends(
    drain: str, tmp_path: Path
) -> None:
    """With the subreaper, the escapee is found by its marker and killed: EOF, no linger."""
    marker = f"llminst-escapee-{uuid.uuid4().hex}"
    spec = escapee_cli(tmp_path, marker)
    try:
        async with open_supervisor(
            models=models_with(spec), settings=SETTINGS, subreaper=True
        ) as sup:
            with capture_logs() as logs, trio.fail_after(30):
                result = await sup.run("escapee", "hi", timeout=60)
        assert result.success and result.output == "answer\n"
        finished = [e for e in logs if e["event"] == "llminst.attempt.finished"]
        assert [e["pipes_abandoned"] for e in finished] == [None]
        assert "llminst.process.escapees_killed" in [e["event"] for e in logs]
        assert processes_with_marker(marker) == []
    finally:
        _kill_marked(marker)


def _kill_marked(marker: str) -> None:
    for pid in processes_with_marker(marker):
        os.kill(pid, signal.SIGKILL)
