"""A session's turn reaching a replica whose host cannot resume its CLI session runs on the host
that can, while a replica there is alive: two supervisors on one real redis-server stand for
hosts "a" and "b" (each its own HOME, where the claude-like `resuming_cli.py` keeps its resume
state: resuming on the wrong host fails as claude does), real processes throughout."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import coredis
import pytest
import trio
from structlog.testing import capture_logs

from llminst import open_supervisor
from llminst._core.errors import LLMError
from llminst._core.settings import Settings
from llminst.replicas.routing import TurnQueue
from llminst.supervisor import Supervisor
from llminst.supervisor.routed import FOLLOW_POLL_S

from ..support.paths import RESUMING_CLI, ROUTE_REPLICA
from ..support.procs import kill_machine
from ..support.redis import RedisServer
from ..support.replicas import FAST, local_replica, replica_process
from ..support.route_replica import resuming_spec


class Hosts:
    """The test's machines: a runs-log of the CLI and a HOME per host, one store file."""

    def __init__(self, tmp_path: Path, redis_url: str) -> None:
        self.tmp_path = tmp_path
        self.redis_url = redis_url
        self.store = tmp_path / "calls.sqlite3"
        self.runs = tmp_path / "runs.jsonl"

    def home(self, host: str) -> Path:
        home = self.tmp_path / f"home-{host}"
        home.mkdir(exist_ok=True)
        return home

    def runs_seen(self) -> list[dict[str, Any]]:
        text = self.runs.read_text() if self.runs.exists() else ""
        return [json.loads(line) for line in text.splitlines()]

    @asynccontextmanager
    async def supervisor(
        self, host: str, *, session_lock_lease_s: float = 30.0, **settings: float
    ) -> AsyncIterator[Supervisor]:
        models = {"resuming": resuming_spec(RESUMING_CLI, str(self.runs))}
        writer = f"{host}:{len(host)}:1"
        async with (
            local_replica(self.redis_url, self.store, writer, **settings) as (link, store),
            open_supervisor(
                models=models,
                store=store,
                replicas=link,
                host=host,
                base_env={**os.environ, "HOME": str(self.home(host))},
                settings=Settings(session_lock_lease_s=session_lock_lease_s),
            ) as sup,
        ):
            yield sup


@pytest.fixture
def hosts(tmp_path: Path, redis_server: RedisServer) -> Hosts:
    return Hosts(tmp_path, redis_server.url)


async def test_a_turn_sent_to_b_runs_on_a_and_resumes_there(hosts: Hosts) -> None:
    async with hosts.supervisor("a") as on_a, hosts.supervisor("b") as on_b:
        first = await on_a.run("resuming", "turn 1", session="s")
        with capture_logs() as logs:
            routed = await on_b.run("resuming", "turn 2", session="s")
        await on_a.flushed()
        record = await on_b.store.get_call(routed.call_id or "")
        session = await on_b.store.get_session("s")
        local = await on_a.run("resuming", "turn 3", session="s")

    runs = hosts.runs_seen()
    # the CLI ran twice for two turns, the second time resuming a's own session on a's disk
    assert [run["argv"] for run in runs[:2]] == [
        ["--", "turn 1"],
        ["--resume", first.session_id, "--", "turn 2"],
    ]
    assert json.loads(routed.output) == ["--resume", first.session_id, "--", "turn 2"]
    assert record is not None and record.writer == "a:1:1" and record.session == "s"
    assert session is not None and session.cli_host == "a" and len(session.turns) == 4
    # the same result a local turn gives, but for its own times and ids
    varying = {"output", "duration_s", "call_id", "peak_rss_mb"}
    assert {k: v for k, v in routed.to_dict().items() if k not in varying} == {
        k: v for k, v in local.to_dict().items() if k not in varying
    }
    routed_logs = [e for e in logs if e["event"] == "llminst.session.routed"]
    assert [(e["session"], e["to_host"], e["call"]) for e in routed_logs] == [
        ("s", "a", routed.call_id)
    ]


async def test_a_streamed_turn_via_b_yields_the_text_a_runs(hosts: Hosts) -> None:
    async with hosts.supervisor("a") as on_a, hosts.supervisor("b") as on_b:
        first = await on_a.run("resuming", "turn 1", session="s")
        async with on_b.open_stream("resuming", "turn 2", session="s") as stream:
            text = "".join([chunk async for chunk in stream])
            result = await stream.wait()

    assert json.loads(text) == ["--resume", first.session_id, "--", "turn 2"]
    assert result.output == text and len(hosts.runs_seen()) == 2


async def test_cancelling_a_routed_turn_on_b_kills_the_tree_on_a(hosts: Hosts) -> None:
    async with hosts.supervisor("a") as on_a, hosts.supervisor("b") as on_b:
        await on_a.run("resuming", "turn 1", session="s")
        async with on_b.open_stream("resuming", "hang", session="s") as stream:
            async for chunk in stream:
                assert chunk == "partial\n"
                break  # leaving the block cancels the call
        cli_pid = hosts.runs_seen()[-1]["pid"]
        assert on_a.running() == {}  # a's call ended ...
        assert stream.error is not None and stream.error.result is not None
        record = await on_b.store.get_call(stream.error.result.call_id or "")
        session = await on_b.store.get_session("s")

    assert not _alive(cli_pid)  # ... and its tree is gone
    assert record is not None and record.state.value == "cancelled"
    assert stream.error is not None and stream.error.result is not None
    assert stream.error.result.output == "partial\n"
    assert session is not None and len(session.turns) == 2  # a cancelled turn adds nothing


async def test_a_turn_nobody_takes_is_withdrawn_and_replayed_on_b(
    hosts: Hosts, redis_server: RedisServer
) -> None:
    """a's host looks alive (its key is set) but no replica reads its stream (stuck): after the
    claim wait b withdraws the offer and replays the transcript itself."""
    async with hosts.supervisor("a") as on_a:
        await on_a.run("resuming", "turn 1", session="s")
    client = coredis.Redis.from_url(redis_server.url, decode_responses=True)
    async with client, hosts.supervisor("b", route_claim_wait_s=0.5) as on_b:
        await client.set("llminst:host:a", "stuck", px=60_000)
        with capture_logs() as logs:
            replayed = await on_b.run("resuming", "turn 2", session="s")
        session = await on_b.store.get_session("s")

    argv = json.loads(replayed.output)
    assert "--resume" not in argv and "<user>\nturn 1\n</user>" in argv[-1]
    assert len(hosts.runs_seen()) == 2
    assert [e["to_host"] for e in logs if e["event"] == "llminst.session.route_withdrawn"] == ["a"]
    assert session is not None and session.cli_host == "b"


# A's lock on the session outlives A by this much: turn 3 on b waits for it (30 s by default).
_KILLED_HOLDERS_LEASE_S = 10.0  # long enough for a live holder on a loaded machine


async def test_a_killed_mid_turn_gives_b_interrupted_and_no_replay(hosts: Hosts) -> None:
    config = {
        "redis": hosts.redis_url,
        "store": str(hosts.store),
        "settings": FAST,
        "host": "a",
        "home": str(hosts.home("a")),
        "cli": RESUMING_CLI,
        "runs": str(hosts.runs),
        "session": "s",
        "session_settings": {"session_lock_lease_s": _KILLED_HOLDERS_LEASE_S},
    }
    async with AsyncExitStack() as stack:
        replica_a, _line = await stack.enter_async_context(
            replica_process(hosts.tmp_path, config, script=ROUTE_REPLICA)
        )
        on_b = await stack.enter_async_context(
            hosts.supervisor("b", session_lock_lease_s=_KILLED_HOLDERS_LEASE_S)
        )
        outcome: list[LLMError] = []

        async def turn_2() -> None:
            with pytest.raises(LLMError) as caught:
                await on_b.run("resuming", "hang", session="s")
            outcome.append(caught.value)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(turn_2)
            with trio.fail_after(60):
                await _until_partial_stored(on_b, hosts)
            kill_machine(replica_a.pid)
        after = await on_b.run("resuming", "turn 3", session="s")

    error = outcome[0]
    assert error.kind == "interrupted" and str(error).startswith("interrupted: ")
    assert error.result is not None and error.result.output == "partial\n"
    runs = hosts.runs_seen()
    # turn 2 ran once (on a), never replayed; turn 3 found a dead and replayed on b
    assert [run["argv"][-1] for run in runs[:2]] == ["turn 1", "hang"]
    assert len(runs) == 3 and "--resume" not in runs[2]["argv"]
    assert "<user>\nturn 1\n</user>" in json.loads(after.output)[-1]


async def _until_partial_stored(sup: Supervisor, hosts: Hosts) -> None:
    """Until a's CLI runs turn 2 and its first output is in the store (readable on b)."""
    while True:
        calls = await sup.store.list_calls(limit=10)
        if len(hosts.runs_seen()) >= 2 and any(c.output_chars for c in calls if c.prompt == "hang"):
            return
        await trio.sleep(FOLLOW_POLL_S)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_a_job_started_on_b_runs_on_a_and_is_read_on_b(hosts: Hosts) -> None:
    async with hosts.supervisor("a") as on_a, hosts.supervisor("b") as on_b:
        first = await on_a.run("resuming", "turn 1", session="s")
        call_id = await on_b.start("resuming", "turn 2", session="s")
        with trio.fail_after(60):
            while not (record := await on_b.store.get_call(call_id)) or not record.state.done:  # noqa: ASYNC110
                await trio.sleep(FOLLOW_POLL_S)
        output = await on_b.store.read_output(call_id)

    assert record.writer == "a:1:1" and record.state.value == "succeeded"
    assert json.loads(output) == ["--resume", first.session_id, "--", "turn 2"]


async def test_a_turn_is_either_taken_or_withdrawn_never_both(redis_server: RedisServer) -> None:
    """The claim and the withdrawal race on 50 turns: each ends in exactly one of them."""
    client = coredis.Redis.from_url(redis_server.url, decode_responses=True)
    async with client:
        settings: dict[str, Any] = {
            "prefix": "llminst:",
            "lease_s": 1.0,
            "every_s": 0.2,
            "claim_wait_s": 1.0,
        }
        taker = TurnQueue(client, host="a", writer="a:1:1", **settings)
        offerer = TurnQueue(client, host="b", writer="b:2:1", **settings)
        outcomes: dict[str, list[bool]] = {}

        async def race(call_id: str) -> None:
            await client.set(f"llminst:turn:{call_id}", "waiting")
            results: list[bool] = []

            async def claim() -> None:
                results.append(await taker._claim(call_id))

            async def withdraw() -> None:
                results.append(await offerer._withdraw(f"llminst:turn:{call_id}"))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(claim)
                nursery.start_soon(withdraw)
            outcomes[call_id] = results

        async with trio.open_nursery() as nursery:
            for number in range(50):
                nursery.start_soon(race, f"c{number}")

    assert len(outcomes) == 50
    assert all(sorted(results) == [False, True] for results in outcomes.values())


async def test_a_withdrawal_during_a_redis_outage_waits_to_see_a_claim(tmp_path: Path) -> None:
    """A turn taken just before Redis went away must not be withdrawn (it would run twice): the
    withdrawal is tried again until Redis answers, then finds the claim."""
    with RedisServer(tmp_path / "redis", appendonly=True) as server:
        client = coredis.Redis.from_url(server.url, decode_responses=True)
        async with client:
            settings: dict[str, Any] = {"prefix": "llminst:", "lease_s": 1.0, "every_s": 0.2}
            taker = TurnQueue(client, host="a", writer="a:1:1", claim_wait_s=1.0, **settings)
            offerer = TurnQueue(client, host="b", writer="b:2:1", claim_wait_s=30.0, **settings)
            await client.set("llminst:turn:c1", "waiting")
            assert await taker._claim("c1")
            await trio.to_thread.run_sync(server.stop)
            withdrawn: list[bool] = []
            async with trio.open_nursery() as nursery:

                async def withdraw() -> None:
                    withdrawn.append(await offerer._withdraw("llminst:turn:c1"))

                nursery.start_soon(withdraw)
                await trio.sleep(0.5)  # the withdrawal meets the outage first
                assert withdrawn == []
                await trio.to_thread.run_sync(server.start)
            assert withdrawn == [False]
            assert await offerer._taker("llminst:turn:c1") == "a:1:1"
