"""Three real `llminst serve --transport http --stateless` replicas on one store (issue 15's
end-to-end tests); the test plays the load balancer, choosing the replica of each request.

A (replicas[0]), B and C share the store given by ``--store``: a real redis-server, and, where a
shared SQLite file already gives the behaviour to processes on one machine, that file too. Calls
are real subprocesses (the helper CLI), spoken to through the SDK's client over real sockets.

Starting three replicas costs seconds of CPU on a loaded machine, so the tests that leave the
replicas as they found them share one set per store (`on_redis`, `on_sqlite`, module-scoped; each
such test uses a model of its own, so none sees another's calls, cooldown or budget); the tests
that kill a replica or restart Redis start their own.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from mcp import Client

from llminst import BUILTIN_MODELS

from ..support.balancer import Replica, client_of, open_replicas, running_replicas, wait_gone
from ..support.billing import billing_cli
from ..support.config import write_config
from ..support.counting import spawns
from ..support.paths import FAKECLI
from ..support.procs import read_pids, wait_for_pids
from ..support.progress import ProgressRecorder
from ..support.redis import RedisServer
from ..support.tools import text_of

_COUNTING_ECHO = """\
import os, sys
with open(os.environ["SPAWN_LOG"], "a") as log:
    log.write("started\\n")
from llminst.echo import main
sys.exit(main(sys.argv[1:]))
"""


def _config(tmp_path: Path, **settings: float) -> Path:
    """`tree` (hangs with a grandchild, PIDs in ``pids``), `gated` (prints "before", then
    "after" and exits once ``gate`` exists), `lim` (the echo CLI counting its starts in
    ``lim.spawns``) and `paid` ($0.50 a call, $0.50 a day); `settings` on top of a 1-s grace."""
    script = tmp_path / "lim_cli.py"
    script.write_text(_COUNTING_ECHO)
    paid = billing_cli(tmp_path, "paid", cost_usd=0.5)
    models: dict[str, dict[str, Any]] = {
        "tree": {
            "command": [sys.executable, FAKECLI, "hang-tree"],
            "env": {"FAKECLI_PIDFILE": str(tmp_path / "pids")},
        },
        "gated": {
            "command": [sys.executable, FAKECLI, "gated", str(tmp_path / "gate"), "exit"],
            "timeout_category": "extended",
        },
        "lim": {
            "command": [sys.executable, str(script)],
            "env": {
                "SPAWN_LOG": str(tmp_path / "lim.spawns"),
                "LLMINST_ECHO_STATE_DIR": str(tmp_path / "echo-state"),  # its own counters
            },
            "prompt_separator": "--",
            "rate_limit_patterns": list(BUILTIN_MODELS["echo"].rate_limit_patterns),
        },
        "paid": {
            "command": list(paid.command),
            "prompt_separator": "--",
            "output_format": "claude-stream-json",
            "env": dict(paid.env),
            "budget_daily_usd": 0.5,
        },
    }
    return write_config(
        tmp_path / "llminst.toml", models=models, settings={"grace_period_s": 1.0, **settings}
    )


@attrs.frozen
class SharedSet:
    """Three replicas several tests share: their folder (config, pid and spawn files), their
    store and, on Redis, the server."""

    folder: Path
    store: str
    replicas: list[Replica]
    redis: RedisServer | None = None


@pytest.fixture(scope="module")
def on_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedSet]:
    folder = tmp_path_factory.mktemp("replicas-on-redis")
    with (
        RedisServer(folder / "redis") as redis,
        running_replicas(
            folder, _config(folder), 3, "--stateless", "--store", redis.url
        ) as replicas,
    ):
        yield SharedSet(folder, redis.url, replicas, redis)


@pytest.fixture(scope="module")
def on_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedSet]:
    folder = tmp_path_factory.mktemp("replicas-on-sqlite")
    store = str(folder / "shared.sqlite3")
    with running_replicas(folder, _config(folder), 3, "--stateless", "--store", store) as replicas:
        yield SharedSet(folder, store, replicas)


@asynccontextmanager
async def three_replicas(
    tmp_path: Path, store: str, **settings: float
) -> AsyncIterator[list[Replica]]:
    async with open_replicas(
        tmp_path, _config(tmp_path, **settings), 3, "--stateless", "--store", store
    ) as replicas:
        yield replicas


async def _structured(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    return dict(result.structured_content)


async def _start_on(replica: Replica, model: str, prompt: str) -> str:
    async with client_of(replica.url) as client:
        started = await _structured(client, "start_llm", model=model, prompt=prompt)
    return str(started["call_id"])


async def _wait_for_state(replica: Replica, call_id: str, *, within_s: float) -> dict[str, Any]:
    """Poll `get_llm_result` on `replica` until the call is done; its last piece."""
    async with client_of(replica.url) as client:
        with trio.fail_after(within_s):
            while True:
                piece = await _structured(client, "get_llm_result", call_id=call_id, wait_s=5)
                if piece["done"]:
                    return piece


async def _wait_for_output(replica: Replica, call_id: str, *, within_s: float) -> None:
    """Poll `get_llm_result` on `replica` until some of the call's output is readable there."""
    async with client_of(replica.url) as client:
        with trio.fail_after(within_s):
            while not (await _structured(client, "get_llm_result", call_id=call_id))["output"]:  # noqa: ASYNC110
                await trio.sleep(0.1)


async def _assert_kept_in_redis(redis_server: RedisServer) -> None:
    """The replicas' state went to Redis (not, say, to a file named after the URL)."""
    import coredis

    client = coredis.Redis.from_url(redis_server.url, decode_responses=True)
    async with client:
        assert await client.dbsize() > 0, "nothing was written to Redis"


_QUICK_LEASE = {"heartbeat_lease_s": 5.0, "heartbeat_every_s": 0.5, "replica_sweep_s": 0.5}


def _kill_leftovers(pidfile: Path) -> None:
    """A SIGKILLed server cannot kill its calls' trees: the test does, so nothing leaks."""
    for pid in read_pids(pidfile) if pidfile.exists() else []:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------------------------
# A job started on A, polled on B, cancelled on C


async def _start_poll_cancel(shared: SharedSet) -> None:
    a, b, c = shared.replicas
    call_id = await _start_on(a, "tree", "x")
    pids = await wait_for_pids(shared.folder / "pids", 2)
    async with client_of(b.url) as on_b:
        running = await _structured(on_b, "get_llm_result", call_id=call_id)
    assert running["done"] is False and running["state"] == "running"
    async with client_of(c.url) as on_c:
        await _structured(on_c, "cancel_llm", call_id=call_id)
    await wait_gone(pids)
    ended = await _wait_for_state(b, call_id, within_s=60)
    assert ended["state"] == "cancelled"


async def test_a_job_started_on_a_is_polled_on_b_and_cancelled_on_c(on_redis: SharedSet) -> None:
    """start_llm on A, get_llm_result on B (running), cancel_llm on C: A's tree dies and B
    reports the call cancelled."""
    await _start_poll_cancel(on_redis)
    assert on_redis.redis is not None
    await _assert_kept_in_redis(on_redis.redis)


async def test_a_job_is_polled_and_cancelled_from_other_replicas_on_one_sqlite_file(
    on_sqlite: SharedSet,
) -> None:
    """The same with replicas on one machine sharing a SQLite file."""
    await _start_poll_cancel(on_sqlite)


# --------------------------------------------------------------------------------------------
# Cooldowns and budgets are shared


async def _cooldown_shared(shared: SharedSet) -> None:
    a, b, _ = shared.replicas
    async with client_of(a.url) as on_a:
        limited = await on_a.call_tool(
            "execute_llm",
            {"model": "lim", "prompt": "[[echo:rate-limit=9]] [[echo:reset-in=7200]] x"},
        )
    async with client_of(b.url) as on_b:
        refused = await on_b.call_tool("execute_llm", {"model": "lim", "prompt": "hi"})
    assert text_of(limited).startswith("rate_limited: ")
    assert text_of(refused).startswith("rate_limited: model 'lim' is cooling down")
    assert spawns(shared.folder, "lim") == 1


async def test_a_cooldown_hit_on_a_makes_b_refuse_without_spawning(on_redis: SharedSet) -> None:
    """A's call is rate limited for two hours; B, already running, refuses the same account's
    next call without starting its CLI."""
    await _cooldown_shared(on_redis)
    assert on_redis.redis is not None
    await _assert_kept_in_redis(on_redis.redis)


async def test_a_cooldown_is_shared_by_replicas_on_one_sqlite_file(on_sqlite: SharedSet) -> None:
    """The same with replicas on one machine sharing a SQLite file."""
    await _cooldown_shared(on_sqlite)


async def _budget_shared(shared: SharedSet) -> None:
    a, _, c = shared.replicas
    async with client_of(a.url) as on_a:
        spent = await on_a.call_tool("execute_llm", {"model": "paid", "prompt": "one"})
    async with client_of(c.url) as on_c:
        refused = await on_c.call_tool("execute_llm", {"model": "paid", "prompt": "two"})
    assert not spent.is_error, text_of(spent)
    assert text_of(refused).startswith("budget_exceeded: the paid daily budget is spent")
    assert spawns(shared.folder, "paid") == 1


async def test_a_shared_budget_refuses_on_c(on_redis: SharedSet) -> None:
    """A's call spends the model's whole daily budget ($0.50): C refuses the next one before
    its CLI starts."""
    await _budget_shared(on_redis)
    assert on_redis.redis is not None
    await _assert_kept_in_redis(on_redis.redis)


async def test_a_budget_is_shared_by_replicas_on_one_sqlite_file(on_sqlite: SharedSet) -> None:
    """The same with replicas on one machine sharing a SQLite file."""
    await _budget_shared(on_sqlite)


# --------------------------------------------------------------------------------------------
# A replica dies; Redis restarts


async def test_a_replica_sigkilled_mid_call_shows_interrupted_on_b(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """A is SIGKILLed while its job runs: once A's heartbeat lease lapses, B reports the call
    interrupted, with the output it had produced."""
    pidfile = tmp_path / "pids"
    try:
        # A short lease (not the 10 s default) so the lapse is not most of the test; a lease
        # lapsing early under load would only mark A's call interrupted sooner.
        async with three_replicas(tmp_path, redis_server.url, **_QUICK_LEASE) as (a, b, _):
            call_id = await _start_on(a, "tree", "x")
            await wait_for_pids(pidfile, 2)
            # A kill before A's recorder wrote any output would leave nothing to keep: wait
            # until the output so far is readable on B (the point: another replica sees it).
            await _wait_for_output(b, call_id, within_s=120)
            a.proc.kill()
            await a.proc.wait()
            ended = await _wait_for_state(b, call_id, within_s=120)
    finally:
        _kill_leftovers(pidfile)
    assert ended["state"] == "interrupted"
    assert ended["output"], "the partial output is kept"
    await _assert_kept_in_redis(redis_server)


async def test_redis_restarted_mid_call_still_answers(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Redis restarts while A runs a call (its first line already streamed): the call still
    answers, whole."""
    answers: list[str] = []
    progress = ProgressRecorder()
    async with (
        three_replicas(tmp_path, redis_server.url) as (a, _, _),
        client_of(a.url) as on_a,
        trio.open_nursery() as nursery,
    ):

        async def call() -> None:
            arguments = {"model": "gated", "prompt": "x"}
            result = await on_a.call_tool("execute_llm", arguments, progress_callback=progress)
            answers.append(text_of(result))

        nursery.start_soon(call)
        await progress.wait_for_text("before\n", within_s=60)
        await _assert_kept_in_redis(redis_server)  # the running call is recorded there
        await trio.to_thread.run_sync(redis_server.restart)
        (tmp_path / "gate").touch()
    assert answers == ["before\nafter\n"]
