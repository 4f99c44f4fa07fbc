"""Warm processes (``warm = N``) against real processes: a stand-in claude speaking stream-json
(tests/support/fake_streamjson.py) started ahead, handed to the call whose launch matches, never
handed out dead, retired when idle, reconfigured or closed, and killed and reaped like any."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from structlog.testing import capture_logs

from llminst import (
    BUILTIN_MODELS,
    ModelSpec,
    ProcessFailedError,
    Settings,
    Supervisor,
    open_supervisor,
)

from ..support.clocks import real_time_limit
from ..support.models import models_with
from ..support.procs import is_alive, read_pids, state

FAKE = Path(__file__).resolve().parents[1] / "support" / "fake_streamjson.py"
CLAUDE = BUILTIN_MODELS["claude"]


def stand_in(pidfile: Path, **fields: Any) -> ModelSpec:
    """claude's spec (stream-json both ways, its decoder and flags) running the stand-in."""
    fields.setdefault("warm", 1)
    return attrs.evolve(
        CLAUDE,
        name="fake",
        command=(sys.executable, str(FAKE), *CLAUDE.command[1:]),
        env={"FAKECLI_PIDFILE": str(pidfile)},
        credential_env=(),
        version_command=None,
        **fields,
    )


async def wait_ready(sup: Supervisor, model: str, count: int) -> list[int]:
    """The PIDs of `count` warm processes of `model` once they wait (bounded in real time)."""
    async with real_time_limit(60):
        while len(sup.warm_ready(model)) < count:  # noqa: ASYNC110 (other processes)
            await trio.sleep(0.01)
    return sup.warm_ready(model)


async def wait_gone(pids: list[int]) -> None:
    async with real_time_limit(60):
        while any(is_alive(pid) for pid in pids):  # noqa: ASYNC110 (other processes)
            await trio.sleep(0.01)


def served_by(result: Any) -> int:
    """The stand-in's PID, from the session id it reports (``fake-PID``)."""
    return int(result.session_id.removeprefix("fake-"))


async def test_a_warm_process_started_ahead_serves_the_next_call(tmp_path: Path) -> None:
    """The first call starts cold and the pool starts one ahead; the next call is answered by
    that process (started before the call), and the pool starts the next one."""
    pidfile = tmp_path / "pids"
    spec = stand_in(pidfile)
    async with open_supervisor(models=models_with(spec)) as sup:
        cold = await sup.run("fake", "first")
        [warm_pid] = await wait_ready(sup, "fake", 1)
        assert warm_pid != served_by(cold)
        warm = await sup.run("fake", "second")
        assert served_by(warm) == warm_pid
        assert warm.output == "Echo: second" and warm.success and warm.attempts == 1
        [next_pid] = await wait_ready(sup, "fake", 1)
        assert next_pid not in (warm_pid, served_by(cold))
    assert sorted(read_pids(pidfile)) == sorted([served_by(cold), warm_pid, next_pid])


@pytest.mark.parametrize("streaming", [False, True], ids=["plain", "streaming"])
async def test_a_warm_call_gives_what_a_cold_call_gives(tmp_path: Path, streaming: bool) -> None:
    """Text, usage, cost and the streamed chunks are those of the same call started cold."""

    async def chunks_and_result(sup: Supervisor) -> tuple[list[str], Any]:
        async with sup.open_stream("fake", "one two three", cli_streaming=streaming) as stream:
            chunks = [chunk async for chunk in stream]
        return chunks, stream.result

    cold_spec = stand_in(tmp_path / "cold", warm=0)
    async with open_supervisor(models=models_with(cold_spec)) as sup:
        cold_chunks, cold = await chunks_and_result(sup)
    async with open_supervisor(models=models_with(stand_in(tmp_path / "warm"))) as sup:
        await chunks_and_result(sup)  # cold: it tells the pool which launch to keep
        [warm_pid] = await wait_ready(sup, "fake", 1)
        warm_chunks, warm = await chunks_and_result(sup)
    assert served_by(warm) == warm_pid
    assert warm_chunks == cold_chunks and len(warm_chunks) == (4 if streaming else 1)
    same = ("output", "success", "exit_code", "usage", "cost_usd", "attempts", "error_kind")
    assert {k: getattr(warm, k) for k in same} == {k: getattr(cold, k) for k in same}


async def test_a_warm_process_that_died_while_idle_is_never_handed_out(tmp_path: Path) -> None:
    """SIGKILLed while it waits: the next call is served by another process, and succeeds."""
    spec = stand_in(tmp_path / "pids")
    async with open_supervisor(models=models_with(spec)) as sup:
        await sup.run("fake", "first")
        [warm_pid] = await wait_ready(sup, "fake", 1)
        os.kill(warm_pid, signal.SIGKILL)
        # Wait for the death without a checkpoint, so the pool's own watch of the process has
        # had no chance to run: the check when a call takes it must see it.
        deadline = time.monotonic() + 30
        while state(warm_pid) not in ("Z", None) and time.monotonic() < deadline:
            time.sleep(0.001)  # noqa: ASYNC251 - blocking on purpose (see above)
        result = await sup.run("fake", "second")
        assert result.output == "Echo: second"
        assert served_by(result) != warm_pid


async def test_a_call_whose_launch_differs_starts_cold(tmp_path: Path) -> None:
    """Streaming flags, a sub-model or a system prompt change the launch: the call starts its
    own process, the one kept for the old launch is retired, and the new launch is kept."""
    spec = stand_in(tmp_path / "pids")
    async with open_supervisor(models=models_with(spec)) as sup:
        await sup.run("fake", "plain")
        [plain_pid] = await wait_ready(sup, "fake", 1)
        result = await sup.run("fake", "with a system prompt", system_prompt="Be brief.")
        assert served_by(result) != plain_pid
        await wait_gone([plain_pid])
        [kept] = await wait_ready(sup, "fake", 1)
        again = await sup.run("fake", "again", system_prompt="Be brief.")
        assert served_by(again) == kept


async def test_idle_warm_processes_are_retired(tmp_path: Path) -> None:
    """After warm_idle_s unused, the process is stopped and reaped (real time is the point)."""
    spec = stand_in(tmp_path / "pids", warm_idle_s=0.2)
    async with open_supervisor(models=models_with(spec)) as sup:
        with capture_logs() as logs:
            await sup.run("fake", "first")
            [warm_pid] = await wait_ready(sup, "fake", 1)
            await wait_gone([warm_pid])
            # The pid is gone once reaped; the pool logs the retirement after it has also swept
            # the tree's escapees, which a loaded machine may not have done yet.
            with trio.fail_after(60):
                while not any(e["event"] == "llminst.warm.retired" for e in logs):  # noqa: ASYNC110
                    await trio.sleep(0.01)
        assert sup.warm_ready("fake") == []


async def test_reconfiguring_the_model_retires_its_warm_processes(tmp_path: Path) -> None:
    spec = stand_in(tmp_path / "pids", warm=2)
    async with open_supervisor(models=models_with(spec)) as sup:
        await sup.run("fake", "first")
        pids = await wait_ready(sup, "fake", 2)
        sup.configure(attrs.evolve(spec, env={**spec.env, "CHANGED": "1"}))
        await wait_gone(pids)
        assert sup.warm_ready("fake") == []


async def test_closing_the_supervisor_kills_and_reaps_the_pool(tmp_path: Path) -> None:
    """Every process the pool started is gone when the block is left (zombies count as gone
    only if reaped: the supervisor is their parent and must reap them)."""
    pidfile = tmp_path / "pids"
    async with open_supervisor(models=models_with(stand_in(pidfile, warm=3))) as sup:
        await sup.run("fake", "first")
        await wait_ready(sup, "fake", 3)
    pids = read_pids(pidfile)
    assert len(pids) == 4
    for pid in pids:
        assert state(pid) is None, f"{pid} left behind (alive or unreaped)"


async def test_warm_processes_hold_no_concurrency_slot(tmp_path: Path) -> None:
    """With max_concurrency = 1 and two processes waiting, nothing counts as running, and
    calls still get the one slot."""
    spec = stand_in(tmp_path / "pids", warm=2, max_concurrency=1)
    async with open_supervisor(models=models_with(spec)) as sup:
        await sup.run("fake", "first")
        await wait_ready(sup, "fake", 2)
        assert sup.running() == {}
        async with trio.open_nursery() as nursery:
            for word in ("a", "b", "c"):
                nursery.start_soon(sup.run, "fake", word)


async def test_the_pool_stays_within_its_memory_budget(tmp_path: Path) -> None:
    """A budget smaller than one process: none is kept (each is ended once measured), and
    calls start cold and succeed."""
    spec = stand_in(tmp_path / "pids", warm=2)
    settings = Settings(warm_memory_mb=1)
    async with open_supervisor(models=models_with(spec), settings=settings) as sup:
        with capture_logs() as logs:
            for word in ("a", "b", "c"):
                assert (await sup.run("fake", word)).output == f"Echo: {word}"
        assert sup.warm_ready("fake") == []
    assert any(e["event"] == "llminst.warm.over_budget" for e in logs)


async def test_a_failing_warm_call_fails_as_a_cold_one(tmp_path: Path) -> None:
    """The CLI's error result and exit code come through a warm process unchanged."""
    spec = stand_in(tmp_path / "pids", max_attempts=1)
    async with open_supervisor(models=models_with(spec)) as sup:
        await sup.run("fake", "first")
        [warm_pid] = await wait_ready(sup, "fake", 1)
        with capture_logs() as logs, pytest.raises(ProcessFailedError) as info:
            await sup.run("fake", "[[exit 3]]")
    assert info.value.result is not None and info.value.result.exit_code == 3
    assert "failed on purpose (3)" in str(info.value)
    taken = [e["pid"] for e in logs if e["event"] == "llminst.warm.taken"]
    assert taken == [warm_pid]


async def test_cancelling_a_warm_call_kills_and_reaps_its_process(tmp_path: Path) -> None:
    spec = stand_in(tmp_path / "pids")
    async with open_supervisor(models=models_with(spec)) as sup:
        await sup.run("fake", "first")
        [warm_pid] = await wait_ready(sup, "fake", 1)
        with trio.move_on_after(0.5):
            await sup.run("fake", "[[hang]]")
        assert state(warm_pid) is None  # killed and reaped
