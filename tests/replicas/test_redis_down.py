"""Redis unreachable or restarted: calls keep running and answering (a global limit falls back
to the local one), the degraded flag goes up with one log line and down with another, and the
replica reconnects without a restart (its cancel listener hears cancels again). Real
redis-server killed and started again on its port, real echo CLI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs
import coredis
import pytest
import trio
from structlog.testing import capture_logs

from llminst import open_supervisor
from llminst._core.builtins import BUILTIN_MODELS
from llminst._core.errors import StoreUnavailableError
from llminst._core.records import CallState
from llminst.replicas import cancelbus
from llminst.store.opening import open_store

from ..support.models import models_with
from ..support.redis import RedisServer
from ..support.replicas import local_replica

SLOW = "[[echo:delay=0.05]] " + " ".join(f"w{i}" for i in range(40))
GLOBAL_ECHO = attrs.evolve(BUILTIN_MODELS["echo"], concurrency_scope="global", max_concurrency=1)


async def test_calls_answer_while_redis_is_down_and_the_replica_reconnects(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    expected = " ".join(f"w{i}" for i in range(40))
    with capture_logs() as logs:
        async with (
            local_replica(redis_server.url, tmp_path / "calls.sqlite3", "replica-a:1:1") as (
                link,
                store,
            ),
            open_supervisor(models=models_with(GLOBAL_ECHO), store=store, replicas=link) as sup,
        ):
            health = sup.store_health
            async with sup.open_stream("echo", SLOW, timeout=600) as stream:
                events = stream.events()
                await events.__anext__()  # the CLI runs, holding a global lease
                redis_server.kill()  # mid-call, as a machine that dies
                async for _ in events:
                    pass
            assert stream.result is not None and stream.result.output == expected
            # A new call while Redis is still down: no lease to be had, the local limit holds.
            during = await sup.run("echo", "still answering", timeout=600)
            assert during.output == "still answering"
            await _wait_for(lambda: health.degraded)
            redis_server.start()  # the same port, empty: it was restarted
            await _wait_for(lambda: not health.degraded)
            # Reconnected without a restart: a cancel published now ends a call here.
            async with sup.open_stream("echo", "[[echo:delay=0.5]] " + expected, timeout=600) as s:
                events = s.events()
                await events.__anext__()
                await sup.flushed()
                (running,) = await store.list_calls(states=[CallState.RUNNING])
                publisher = coredis.Redis.from_url(redis_server.url, decode_responses=True)
                async with publisher:
                    with trio.fail_after(60):
                        while not s.done:
                            await cancelbus.publish_cancel(
                                publisher, link.settings.prefix, running.call_id
                            )
                            await trio.sleep(0.1)
                async for _ in events:
                    pass
            assert "at the request of another process" in str(s.error)
    names = [entry["event"] for entry in logs]
    assert names.count("llminst.store.degraded") == 1, names
    assert names.count("llminst.store.recovered") == 1, names
    assert names.index("llminst.store.degraded") < names.index("llminst.store.recovered")


async def _wait_for(condition: Callable[[], bool]) -> None:
    with trio.fail_after(60):
        while not condition():  # noqa: ASYNC110 - the flag has no event of its own to wait on
            await trio.sleep(0.02)


async def test_a_replica_opened_while_redis_is_down_still_answers(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Redis went away between the store's open and the supervisor's: opening does not wait
    for it, calls answer, the flag is up."""
    redis_server.kill()
    with trio.fail_after(60):
        async with (
            local_replica(redis_server.url, tmp_path / "calls.sqlite3", "replica-a:1:1") as (
                link,
                store,
            ),
            open_supervisor(models=models_with(GLOBAL_ECHO), store=store, replicas=link) as sup,
        ):
            result = await sup.run("echo", "answered anyway", timeout=600)
            assert sup.store_health.degraded
    assert result.output == "answered anyway"


async def test_a_session_turn_while_redis_is_down_says_so_and_starts_nothing(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """A session's history is in Redis: without it a turn would answer out of context and its
    record would overwrite the history. It fails with ``store_unavailable`` (nothing started),
    while a call outside any session still answers; once Redis is back the session goes on."""
    async with (
        open_store(redis_server.url) as store,
        open_supervisor(models=models_with(), store=store) as sup,
    ):
        first = await sup.run("echo", "turn one", session="chat", timeout=600)
        assert first.output == "turn one"
        redis_server.kill()
        with pytest.raises(StoreUnavailableError) as caught:
            await sup.run("echo", "turn two", session="chat", timeout=600)
        assert caught.value.kind == "store_unavailable"
        assert "session 'chat'" in str(caught.value) and "nothing was started" in str(caught.value)
        assert caught.value.result is None
        assert (await sup.run("echo", "no session", timeout=600)).output == "no session"
        redis_server.start()  # empty: the session starts over
        with trio.fail_after(60):
            while True:
                try:
                    again = await sup.run("echo", "turn three", session="chat", timeout=600)
                    break
                except StoreUnavailableError:
                    await trio.sleep(0.2)  # the client reconnects on its own schedule
        assert again.output == "turn three"
