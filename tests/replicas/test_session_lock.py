"""One turn of a session at a time across processes: two real ``llminst run`` processes on one
store (a SQLite file, or one Redis as two replicas are) each running a turn of one session at
the same time. The CLI (`support.turncli`) logs its start and end and waits at a gate the test
opens, so the second turn either waits for the first (the lock) or starts beside it (a forked
conversation: both turns read the empty session, one of them lost). A holder that is killed
leaves its lock to lapse; a store that goes away mid-turn costs no answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from structlog.testing import capture_logs

from llminst import ModelSpec, open_supervisor
from llminst._core.records import SessionRecord
from llminst._core.spec import Settings
from llminst.replicas.health import is_unavailable
from llminst.store.opening import open_store
from llminst.store.redis import RedisStore

from ..support.config import write_config
from ..support.models import models_with
from ..support.paths import LLMINST, ROOT, TESTS
from ..support.procs import kill_machine
from ..support.redis import RedisServer

TURNCLI = str(TESTS / "support" / "turncli.py")


class Turns:
    """Where one test's turns meet: the CLI's log and gate, the config, the store."""

    def __init__(self, tmp_path: Path, store: str, **settings: float) -> None:
        self.tmp_path = tmp_path
        self.log = tmp_path / "turns.log"
        self.gate = tmp_path / "gate"
        self.store = store
        command = [sys.executable, TURNCLI, str(self.log), str(self.gate)]
        self.config = write_config(
            tmp_path / "llminst.toml",
            models={"turns": {"command": command}},
            settings=settings or None,
            store={"path": store},
        )

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def open_gate(self) -> None:
        self.gate.touch()

    @asynccontextmanager
    async def run(self, prompt: str) -> AsyncIterator[RunningTurn]:
        """``llminst run --session chat turns PROMPT`` in a process of its own (its process
        tree SIGKILLed on leaving if it still runs)."""
        argv = [*LLMINST, "run", "--config", str(self.config), "--store", self.store]
        argv += ["--log-level", "info", "--log-format", "json"]
        argv += ["--session", "chat", "--timeout", "600", "turns", prompt]
        stderr = self.tmp_path / f"{prompt}.stderr"
        with stderr.open("wb") as err:
            process = await trio.lowlevel.open_process(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            )
        turn = RunningTurn(process, stderr)
        try:
            yield turn
        finally:
            turn.kill()
            with trio.CancelScope(shield=True):
                await process.wait()


class RunningTurn:
    def __init__(self, process: trio.Process, stderr: Path) -> None:
        self.process = process
        self.stderr = stderr

    def events(self, name: str) -> list[dict[str, object]]:
        lines = self.stderr.read_text(errors="replace").splitlines()
        found = [json.loads(line) for line in lines if line.startswith("{")]
        return [event for event in found if event.get("event") == name]

    async def answer(self) -> str:
        assert self.process.stdout is not None
        output = b""
        with trio.fail_after(120):
            while chunk := await self.process.stdout.receive_some(65536):
                output += chunk
            code = await self.process.wait()
        assert code == 0, self.stderr.read_text(errors="replace")[-2000:]
        return output.decode()

    def kill(self) -> None:
        """SIGKILL the process and its CLI (as a machine that dies)."""
        if self.process.returncode is None:
            kill_machine(self.process.pid)


async def _wait_until(condition: Callable[[], bool]) -> None:
    with trio.fail_after(120):
        while not condition():  # noqa: ASYNC110 - files and another process: no event to wait on
            await trio.sleep(0.05)


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "calls.sqlite3")
        return
    with RedisServer(tmp_path / "redis") as server:
        yield server.url


async def test_two_processes_run_the_turns_of_one_session_one_after_the_other(
    tmp_path: Path, store_url: str
) -> None:
    turns = Turns(tmp_path, store_url)
    async with turns.run("alpha") as alpha:
        await _wait_until(lambda: turns.lines() == ["start alpha"])
        async with turns.run("beta") as beta:
            # beta either waits for alpha's lock or (a forked session) starts its CLI now.
            await _wait_until(
                lambda: bool(beta.events("llminst.session.waiting")) or len(turns.lines()) > 1
            )
            turns.open_gate()
            first, second = await alpha.answer(), await beta.answer()
    assert turns.lines() == ["start alpha", "end alpha", "start beta", "end beta"]
    assert first.strip() == "alpha"
    assert "<user>\nalpha\n</user>" in second and second.strip().endswith("beta")
    (waiting,) = beta.events("llminst.session.waiting")
    assert waiting["session"] == "chat" and f":{alpha.process.pid}:" in str(waiting["holder"])
    async with open_store(store_url) as store:
        session = await store.get_session("chat")
    assert session is not None
    assert [turn.text.strip() for turn in session.turns if turn.role == "user"] == [
        "alpha",
        "beta",
    ]


async def test_a_killed_holder_lets_the_next_turn_through_once_its_lease_lapses(
    tmp_path: Path, store_url: str
) -> None:
    """beta waits for alpha's lock (a 2-s lease); alpha's process and CLI are SIGKILLed, so
    nobody renews or frees it: beta runs once the lease lapsed."""
    turns = Turns(tmp_path, store_url, session_lock_lease_s=2.0)
    async with turns.run("alpha") as alpha:
        await _wait_until(lambda: turns.lines() == ["start alpha"])
        async with turns.run("beta") as beta:
            await _wait_until(lambda: bool(beta.events("llminst.session.waiting")))
            alpha.kill()
            await _wait_until(lambda: len(turns.lines()) > 1)
            turns.open_gate()
            answer = await beta.answer()
    assert turns.lines() == ["start alpha", "start beta", "end beta"]
    assert answer.strip() == "beta"  # alpha's turn never ended: nothing to continue
    (waiting,) = beta.events("llminst.session.waiting")
    assert f":{alpha.process.pid}:" in str(waiting["holder"])


async def test_a_turn_answers_when_redis_goes_away_mid_turn(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Redis is killed while a turn holds its lock: the renewals fail (one log line, the
    store's degraded flag), the turn still answers, and its session update, which the server
    could not take, is written once Redis is back (and the flag goes down)."""
    turns = Turns(tmp_path, redis_server.url)
    spec = ModelSpec(
        name="turns", command=(sys.executable, TURNCLI, str(turns.log), str(turns.gate))
    )
    settings = Settings(session_lock_lease_s=0.6)  # renewed every 0.2 s: soon after the kill
    store = await RedisStore.open(redis_server.url)
    try:
        with capture_logs() as logs:
            async with open_supervisor(
                models=models_with(spec), store=store, settings=settings
            ) as supervisor:
                async with supervisor.open_stream("turns", "alpha", session="chat") as stream:
                    await _wait_until(lambda: turns.lines() == ["start alpha"])
                    redis_server.kill()
                    await _wait_until(lambda: supervisor.store_health.degraded)
                    turns.open_gate()
                    result = await stream.wait()
                assert result.output.strip() == "alpha"
                redis_server.start()  # empty: it was restarted
                with trio.fail_after(120):
                    while (session := await _session_or_none(store)) is None:  # noqa: ASYNC110 - Redis has no event for it
                        await trio.sleep(0.1)
                await _wait_until(lambda: not supervisor.store_health.degraded)
    finally:
        await store.aclose()
    assert [turn.text.strip() for turn in session.turns] == ["alpha", "alpha"]
    names = [entry["event"] for entry in logs]
    assert names.count("llminst.session.lock_unavailable") == 1, names
    assert "llminst.session.record_queued" in names


async def _session_or_none(store: RedisStore) -> SessionRecord | None:
    try:
        return await store.get_session("chat")
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        return None  # the server is still starting
