"""The supervisor package's parts on their own: the /proc reader, pipe reading and its linger
(real pipes on a virtual clock), waiting for an exit, the facade, and the streaming flag."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from llminst import ModelSpec, open_supervisor
from llminst.supervisor import Supervisor, environ, process, procfs, reaper, spawn
from llminst.supervisor.process import wait_exited
from llminst.supervisor.pumps import Linger, PipeReader, Watch

from ..support.models import models_with

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _until(condition: Callable[[], bool], within_s: float = 30.0) -> None:
    """Wait (real time, generously bounded) for another process to get somewhere."""
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for a process"
        time.sleep(0.01)


# --------------------------------------------------------------------------------------------
# procfs


def test_read_stat_of_this_process() -> None:
    """State, parent and group of this very process, as the kernel has them."""
    stat = procfs.read_stat("self")
    assert stat is not None and stat.alive
    assert (stat.ppid, stat.pgrp) == (os.getppid(), os.getpgrp())
    assert stat.start_time > 0
    spent = procfs.cpu_seconds()
    assert spent is not None and 0 < spent <= time.process_time() + 0.1


def test_a_zombie_is_not_alive_and_a_reaped_process_is_gone() -> None:
    """Exited but not reaped: state Z, not alive; reaped: no stat at all."""
    child = subprocess.Popen(["true"])
    _until(lambda: getattr(procfs.read_stat(child.pid), "state", None) == "Z")
    assert not procfs.is_alive(child.pid)
    child.wait()
    assert procfs.read_stat(child.pid) is None and not procfs.is_alive(child.pid)


def test_a_process_group_is_live_until_its_member_is_gone() -> None:
    """A sleeping leader makes its group live; killed and reaped, the group is empty."""
    child = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        assert procfs.group_has_live_members(child.pid)
        assert child.pid in procfs.self_children()
        assert child.pid in set(procfs.pids())
    finally:
        child.kill()
        child.wait()
    assert not procfs.group_has_live_members(child.pid)


def test_the_children_reader_keeps_one_descriptor_and_reads_the_list_as_it_is_now() -> None:
    """One descriptor for every read (the subreaper reads after each attempt), each read the
    list of that moment: a child appears, a second one, and both are gone once reaped."""
    reader = procfs.ChildrenReader()
    reader.open()
    try:
        descriptors = procfs.fd_count(os.getpid())
        first = subprocess.Popen(["sleep", "30"])
        second = subprocess.Popen(["sleep", "30"])
        try:
            assert {first.pid, second.pid} <= reader.read() == procfs.self_children()
        finally:
            for child in (first, second):
                child.kill()
                child.wait()
        assert not {first.pid, second.pid} & reader.read()
        assert procfs.fd_count(os.getpid()) == descriptors  # no descriptor per read
    finally:
        reader.close()


def test_a_children_list_longer_than_one_read_is_read_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A list longer than one ``pread`` (65,536 bytes in use; 4 here) takes several reads."""
    monkeypatch.setattr(procfs, "_CHILDREN_READ", 4)
    reader = procfs.ChildrenReader()
    reader.open()
    sleepers = [subprocess.Popen(["sleep", "30"]) for _ in range(3)]
    try:
        assert {s.pid for s in sleepers} <= reader.read() == procfs.self_children()
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()
        reader.close()


def test_a_forked_child_reads_its_own_children_not_its_parents() -> None:
    """After a fork the inherited descriptor lists the parent's children: the child opens its
    own list instead (an empty one here, while the parent has a child)."""
    reader = procfs.ChildrenReader()
    reader.open()
    sleeper = subprocess.Popen(["sleep", "30"])
    read_end, write_end = os.pipe()
    try:
        assert sleeper.pid in reader.read()
        pid = os.fork()
        if pid == 0:  # the child: report what its reader sees, then leave without cleanup
            os.write(write_end, json.dumps(sorted(reader.read())).encode())
            os._exit(0)
        os.close(write_end)
        os.waitpid(pid, 0)
        assert json.loads(os.read(read_end, 65536)) == []
        assert sleeper.pid in reader.read()  # the parent's reader is untouched
    finally:
        os.close(read_end)
        sleeper.kill()
        sleeper.wait()
        reader.close()


def test_environment_command_line_memory_and_descriptors() -> None:
    """What tests and benchmarks read of a process: marker, argv, RSS, fds, threads."""
    child = subprocess.Popen(["sleep", "30"], env={**os.environ, "LLMINST_PROCFS_TEST": "m1"})
    try:
        _until(lambda: procfs.cmdline(child.pid) == b"sleep\x0030\x00")  # it has exec'd
        assert procfs.environ_has_any(child.pid, {b"LLMINST_PROCFS_TEST=m1"})
        assert not procfs.environ_has_any(child.pid, {b"LLMINST_PROCFS_TEST=m2"})
    finally:
        child.kill()
        child.wait()
    memory = procfs.memory_kb()
    assert memory["VmRSS"] > 0 and memory["VmHWM"] >= memory["VmRSS"]
    assert procfs.fd_count() >= 3 and procfs.thread_count() >= 1


def test_a_pid_that_does_not_exist_reads_as_gone() -> None:
    ghost = 2**22 + 12345  # above the kernel's pid_max
    assert procfs.read_stat(ghost) is None and procfs.cmdline(ghost) is None
    assert procfs.cpu_seconds(ghost) is None
    assert procfs.memory_kb(ghost) == {} and procfs.fd_count(ghost) == 0
    assert not procfs.environ_has_any(ghost, {b"A=b"})


# --------------------------------------------------------------------------------------------
# Pipes and the linger, on a virtual clock


class _Pipe:
    def __init__(self) -> None:
        read_fd, self.write_fd = os.pipe()
        self.stream = trio.lowlevel.FdStream(read_fd)

    def write(self, data: bytes) -> None:
        os.write(self.write_fd, data)

    def close_write_end(self) -> None:
        os.close(self.write_fd)


async def test_a_reader_reads_to_eof(autojump_clock: trio.testing.MockClock) -> None:
    """Chunks in order, then EOF: `at_eof`, and the linger never needed."""
    pipe = _Pipe()
    chunks: list[bytes] = []

    async def collect(data: bytes) -> None:
        chunks.append(data)

    async with trio.open_nursery() as nursery:
        reader = PipeReader(pipe.stream, Linger(nursery.cancel_scope))
        nursery.start_soon(reader.run, collect)
        pipe.write(b"one")
        await trio.sleep(1)
        pipe.write(b"two")
        pipe.close_write_end()
    assert chunks == [b"one", b"two"] and reader.at_eof
    pipe.stream.close()


async def test_a_pipe_held_open_is_given_up_after_the_linger(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Once the linger starts, a pipe nobody writes to is given up exactly `seconds` later."""
    pipe = _Pipe()
    async with trio.open_nursery() as nursery:
        linger = Linger(nursery.cancel_scope)
        reader = PipeReader(pipe.stream, linger)
        nursery.start_soon(reader.run, _ignore)
        await trio.sleep(100)  # before the linger: no limit at all
        started = trio.current_time()
        linger.start(1.0)
    assert trio.current_time() - started == pytest.approx(1.0)
    assert not reader.at_eof
    pipe.close_write_end()
    pipe.stream.close()


async def test_data_during_the_linger_extends_it_and_handing_it_on_does_not_count(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Data 0.5 s into the linger restarts it; the 5 s its consumer takes are not counted."""
    pipe = _Pipe()
    received: list[tuple[bytes, float]] = []

    async def slow_consumer(data: bytes) -> None:
        received.append((data, trio.current_time()))
        await trio.sleep(5)

    async with trio.open_nursery() as nursery:
        linger = Linger(nursery.cancel_scope)
        reader = PipeReader(pipe.stream, linger)
        nursery.start_soon(reader.run, slow_consumer)
        started = trio.current_time()
        linger.start(1.0)
        await trio.sleep(0.5)
        pipe.write(b"late")
    assert [data for data, _ in received] == [b"late"]
    assert trio.current_time() - started == pytest.approx(0.5 + 5 + 1.0)
    pipe.close_write_end()
    pipe.stream.close()


async def _ignore(data: bytes) -> None:
    pass


async def test_wait_exited_reaps_the_process() -> None:
    """The exit is seen (on a pidfd of its own) and the process reaped: its code is set."""
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-c", "import sys; sys.exit(7)"], stdin=subprocess.DEVNULL
    )
    with trio.fail_after(60):
        await wait_exited(proc)
    assert proc.returncode == 7 and procfs.read_stat(proc.pid) is None
    await wait_exited(proc)  # already reaped: returns at once


async def test_wait_exited_can_be_cancelled() -> None:
    """Cancelled while the process runs: no error, the process untouched (the caller kills)."""
    proc = await trio.lowlevel.open_process(["sleep", "30"], stdin=subprocess.DEVNULL)
    try:
        with trio.move_on_after(0.2):
            await wait_exited(proc)
        assert proc.returncode is None and procfs.is_alive(proc.pid)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()


# --------------------------------------------------------------------------------------------
# The facade


def test_a_supervisor_is_made_only_by_open_supervisor() -> None:
    """Constructing one directly would bypass its nursery: refused, saying what to do."""
    with pytest.raises(TypeError, match=r"open_supervisor\(\)"):
        Supervisor(
            object(),
            None,
            models={},
            settings=None,
            base_env={},
            backoff=None,
            rng=None,
            recorder=None,
        )


async def test_run_and_open_stream_name_the_clis_streaming_flags_alike(
    fake_spec: Callable[..., ModelSpec],
) -> None:
    """`cli_streaming` adds the spec's stream_args: off by default for `run` (the text comes
    back whole), on for `open_stream` (read as it comes)."""
    spec = fake_spec("dump", stream_args=("--streaming",))

    async def flags(**options: bool) -> list[str]:
        result = await sup.run("fake", "p", **options)
        return list(json.loads(result.output)["argv"][:-1])

    async def stream_flags(**options: bool) -> list[str]:
        async with sup.open_stream("fake", "p", **options) as call:
            result = await call.wait()
        return list(json.loads(result.output)["argv"][:-1])

    async with open_supervisor(models=models_with(spec)) as sup:
        assert await flags() == []
        assert await flags(cli_streaming=True) == ["--streaming"]
        assert await stream_flags() == ["--streaming"]
        assert await stream_flags(cli_streaming=False) == []


class _TaskCounter(trio.abc.Instrument):
    def __init__(self) -> None:
        self.spawned: list[str] = []

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.spawned.append(task.name)


@pytest.mark.skipif(not Watch.available(), reason="one task per attempt needs epoll and pidfds")
async def test_a_run_starts_no_task_and_a_stream_one() -> None:
    """Per-call cost, pinned: `run` drains its CLI in the caller's own task, `open_stream` in
    one task of the supervisor's nursery (before: three tasks per call, and three for each
    stream)."""
    spec = ModelSpec(name="say", command=(sys.executable, "-c", "print('hi')"))
    counter = _TaskCounter()
    async with open_supervisor(models=models_with(spec)) as sup:
        trio.lowlevel.add_instrument(counter)
        try:
            assert (await sup.run("say", "x")).output == "hi\n"
            ran = list(counter.spawned)
            async with sup.open_stream("say", "x") as stream:
                assert (await stream.wait()).output == "hi\n"
        finally:
            trio.lowlevel.remove_instrument(counter)
    assert ran == []
    assert len(counter.spawned) == 1


# --------------------------------------------------------------------------------------------
# environ


def test_the_plain_environment_is_copied_again_only_when_the_environment_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A marked attempt copies this process's environment from one plain dict: the same dict
    while nothing changes, a new one equal to `os.environ` after a variable is set or removed."""
    first = environ.plain(os.environ)
    assert first == os.environ and first is not os.environ
    assert environ.plain(os.environ) is first  # unchanged: no new copy
    monkeypatch.setenv("LLMINST_ENVIRON_TEST", "one")
    second = environ.plain(os.environ)
    assert second["LLMINST_ENVIRON_TEST"] == "one" and second == os.environ
    monkeypatch.setenv("LLMINST_ENVIRON_TEST", "two")  # same names, another value
    assert environ.plain(os.environ)["LLMINST_ENVIRON_TEST"] == "two"
    monkeypatch.delenv("LLMINST_ENVIRON_TEST")
    assert "LLMINST_ENVIRON_TEST" not in environ.plain(os.environ)
    given = {"PATH": "/bin"}
    assert environ.plain(given) is given  # a caller's own base environment is used as is


async def test_a_marked_attempt_starts_with_the_environment_as_it_is_at_the_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In subreaper mode the CLI gets this process's environment as it is at each call, plus
    the reaper's marker: a variable set between two calls reaches the second one."""
    printenv = ModelSpec(
        name="env",
        command=("sh", "-c", 'printf "%s|%s" "$LLMINST_ENVIRON_TEST" "$LLMINST_ATTEMPT"', "sh"),
    )
    async with open_supervisor(models={"env": printenv}, subreaper=True) as supervisor:
        monkeypatch.setenv("LLMINST_ENVIRON_TEST", "before")
        first = (await supervisor.run("env", "x")).output
        monkeypatch.setenv("LLMINST_ENVIRON_TEST", "after")
        second = (await supervisor.run("env", "x")).output
    assert first.startswith("before|") and second.startswith("after|")
    assert first.split("|")[1] and first.split("|")[1] != second.split("|")[1]  # one marker each


# --------------------------------------------------------------------------------------------
# spawn


def test_this_trio_can_build_a_process_on_the_trio_thread() -> None:
    """The start without a worker thread uses trio's own constructor of `trio.Process`: if a
    trio release drops it, starts fall back to the thread and this says so."""
    assert spawn.INLINE


@pytest.mark.parametrize("stdin", [subprocess.PIPE, subprocess.DEVNULL])
@pytest.mark.parametrize("stderr", [subprocess.PIPE, subprocess.STDOUT])
async def test_a_start_on_the_trio_thread_gives_what_open_process_gives(
    stdin: int, stderr: int, tmp_path: Path
) -> None:
    """Same pipes, session, environment and directory as `trio.lowlevel.open_process`, and
    no descriptor left behind: the child's pipe ends are closed here once it has them."""
    script = (
        "import os, sys; data = sys.stdin.read();"
        "print(os.getpgrp() == os.getpid(), os.getcwd(), os.environ.get('SPAWN_TEST'), repr(data),"
        " flush=True);"
        "print('to stderr', file=sys.stderr)"
    )
    descriptors = procfs.fd_count()
    assert reaper.alone()
    with reaper.spawning() as started:
        proc = await spawn.open_process(
            [sys.executable, "-c", script],
            env={**os.environ, "SPAWN_TEST": "here"},
            stdin=stdin,
            stderr=stderr,
            cwd=str(tmp_path),
        )
        started.append(proc.pid)
    try:
        assert isinstance(proc, trio.Process)
        assert (proc.stdin is not None) == (stdin == subprocess.PIPE)
        assert (proc.stderr is not None) == (stderr == subprocess.PIPE)
        if proc.stdin is not None:
            await proc.stdin.send_all(b"prompt")
            await proc.stdin.aclose()
        assert proc.stdout is not None
        out = b""
        while data := await proc.stdout.receive_some(65536):
            out += data
        err = b""
        if proc.stderr is not None:
            while data := await proc.stderr.receive_some(65536):
                err += data
        assert await proc.wait() == 0
    finally:
        process.close_pipes(proc)
        process.released(proc)
    sent = "'prompt'" if stdin == subprocess.PIPE else "''"
    assert out.decode().splitlines()[0] == f"True {tmp_path} here {sent}"
    assert (b"to stderr" in out) == (stderr == subprocess.STDOUT)
    assert (b"to stderr" in err) == (stderr == subprocess.PIPE)
    assert procfs.fd_count() == descriptors


async def test_a_start_that_fails_on_the_trio_thread_leaves_no_descriptor() -> None:
    """A missing executable raises the OSError `open_process` raises, and every pipe end,
    ours and the child's, is closed."""
    descriptors = procfs.fd_count()
    with pytest.raises(FileNotFoundError), reaper.spawning():
        await spawn.open_process(
            ["/nonexistent/llminst-cli"],
            env=None,
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=None,
        )
    assert procfs.fd_count() == descriptors


async def test_a_start_takes_the_trio_thread_only_when_no_other_llminst_process_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`reaper.alone` decides: the first process is started on the trio thread; while it runs,
    a second one goes through trio's worker thread (the loop stays free for the first one)."""
    popen_threads: list[bool] = []  # per start: was Popen called on the trio thread?
    trio_thread = threading.get_ident()
    real_popen = subprocess.Popen

    def spied_popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        popen_threads.append(threading.get_ident() == trio_thread)
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spied_popen)

    async def start_sleeper() -> trio.Process:
        with reaper.spawning() as started:
            proc = await spawn.open_process(
                ["sleep", "30"],
                env=None,
                stdin=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd=None,
            )
            started.append(proc.pid)
        return proc

    assert reaper.alone()
    first = await start_sleeper()
    assert not reaper.alone()
    second = await start_sleeper()
    for proc in (first, second):
        proc.kill()
        await proc.wait()
        process.close_pipes(proc)
        process.released(proc)
    assert reaper.alone()
    assert popen_threads == [True, False]
