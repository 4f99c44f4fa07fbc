"""Global concurrency: a model with ``concurrency_scope = "global"`` holds its limit per account
across every replica on one Redis (leases in a sorted set), and a dead holder's slot comes back
once its lease expires. Real redis-server, real fakecli processes (counted alive in /proc),
a real replica process SIGKILLed."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import trio

from llminst import ModelSpec, open_supervisor

from ..support.models import models_with
from ..support.paths import FAKECLI
from ..support.procs import read_pids, state
from ..support.redis import RedisServer
from .conftest import FAST, local_replica, replica_process

LIMIT = 2
CALLS = 5


def _gated(pidfile: Path, gate: Path) -> ModelSpec:
    return ModelSpec(
        name="fake",
        command=(sys.executable, FAKECLI, "gated", str(gate), "exit"),
        env={"FAKECLI_PIDFILE": str(pidfile)},
        max_concurrency=LIMIT,
        concurrency_scope="global",
        account="shared-account",
    )


def _alive(pidfile: Path) -> int:
    return sum(state(pid) not in (None, "Z") for pid in read_pids(pidfile))


async def test_two_replicas_never_run_more_than_the_global_limit(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    pidfile, gate = tmp_path / "pids", tmp_path / "gate"
    models = models_with(_gated(pidfile, gate))
    store_path = tmp_path / "calls.sqlite3"
    most = 0
    async with (
        local_replica(redis_server.url, store_path, "replica-a:1:1") as (link_a, store_a),
        local_replica(redis_server.url, store_path, "replica-b:2:2") as (link_b, store_b),
        open_supervisor(models=models, store=store_a, replicas=link_a) as sup_a,
        open_supervisor(models=models, store=store_b, replicas=link_b) as sup_b,
    ):
        # Each replica alone would allow LIMIT at once: 3 + 2 calls could run 4 together.
        replicas = [sup_a, sup_a, sup_a, sup_b, sup_b]
        results: list[str] = []

        async def call(index: int) -> None:
            result = await replicas[index].run("fake", f"call {index}", timeout=600)
            results.append(result.output)

        async def count() -> None:
            nonlocal most
            while True:
                most = max(most, _alive(pidfile))
                await trio.sleep(0.01)

        with trio.fail_after(120):
            async with trio.open_nursery() as counting:
                counting.start_soon(count)
                async with trio.open_nursery() as calls:
                    for index in range(CALLS):
                        calls.start_soon(call, index)
                    while _alive(pidfile) < LIMIT:  # noqa: ASYNC110 - /proc has no event
                        await trio.sleep(0.02)
                    await trio.sleep(1.0)  # room for a wrongly admitted third to start
                    assert sum(sup_a.queued().values()) + sum(sup_b.queued().values()) == 3
                    gate.write_text("")  # everyone may finish now
                counting.cancel_scope.cancel()
    assert sorted(results) == ["before\nafter\n"] * CALLS
    assert len(read_pids(pidfile)) == CALLS
    assert most == LIMIT, f"{most} CLI processes ran at once across both replicas"


async def test_a_killed_replicas_slot_comes_back_when_its_lease_expires(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    pidfile, never = tmp_path / "pids", tmp_path / "never-opened"
    store_path = tmp_path / "calls.sqlite3"
    lease_s = 1.0
    config = {
        "redis": redis_server.url,
        "store": str(store_path),
        "settings": {**FAST, "concurrency_lease_s": lease_s},
        "model": "fake",
        "prompt": "holder",
        "command": {
            "command": [sys.executable, FAKECLI, "gated", str(never), "exit"],
            "env": {"FAKECLI_PIDFILE": str(pidfile)},
            "max_concurrency": 1,
            "concurrency_scope": "global",
            "account": "shared-account",
        },
    }
    say = ModelSpec(
        name="fake",
        command=(sys.executable, FAKECLI, "say", "mine now"),
        max_concurrency=1,
        concurrency_scope="global",
        account="shared-account",
    )
    async with (
        replica_process(tmp_path, config) as (replica, _line),
        local_replica(
            redis_server.url, store_path, "replica-b:1:1", concurrency_lease_s=lease_s
        ) as (link, store),
        open_supervisor(models=models_with(say), store=store, replicas=link) as sup,
        trio.open_nursery() as nursery,
    ):
        done = trio.Event()

        async def call() -> None:
            result = await sup.run("fake", "x", timeout=600)
            assert result.output == "mine now"
            done.set()

        nursery.start_soon(call)
        # The holder keeps renewing: B waits several leases' worth for the slot.
        with trio.move_on_after(3 * lease_s):
            await done.wait()
        assert not done.is_set() and sup.queued() == {"fake": 1}
        replica.kill()  # dies holding the slot: nobody releases it
        killed_at = trio.current_time()
        with trio.fail_after(60):
            await done.wait()
        print(f"the slot came back {trio.current_time() - killed_at:.2f} s after the SIGKILL")
    for pid in read_pids(pidfile):  # the holder's orphaned CLI
        if state(pid) not in (None, "Z"):
            os.kill(pid, signal.SIGKILL)
