"""The Redis store through Redis Sentinel and Redis Cluster: their URLs, the store's basics
through each, the cancel bus on a cluster, a sentinel failover, and ``llminst run`` on a
cluster.

Real `redis-server` processes (primary, replica and sentinel; three cluster nodes) on
127.0.0.1, per test and always stopped (`support.redis_topologies`)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import attrs
import pytest
import trio

from llminst._core.batchfile import BatchItem, ItemResult
from llminst._core.budget import ModelSpend
from llminst._core.cooldowns import CooldownRecord
from llminst._core.errors import ConfigError
from llminst._core.records import CallRecord, CallState, SessionRecord
from llminst.batch.redis import open_redis_batch_queue
from llminst.replicas import cancelbus, heartbeats
from llminst.store.redis import RedisLocation, RedisStore, StoreUnreachableError

from ..support.paths import LLMINST
from ..support.redis_topologies import SERVICE, ClusterSet, SentinelSet, redis_cli, wait_for
from ..support.serve import free_port

SECRET = "s3cr3t-pässword"


def record(call_id: str, *, created_at: float = 100.0) -> CallRecord:
    return CallRecord(call_id=call_id, created_at=created_at, model="echo", state=CallState.QUEUED)


# -- the URLs ---------------------------------------------------------------------------------


def test_a_sentinel_url_names_the_sentinels_the_service_and_the_db(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LLMINST_REDIS_PASSWORD", raising=False)
    url = f"redis+sentinel://:{SECRET}@s1:26379,s2:26380/{SERVICE}/2?prefix=team-a:"
    location = RedisLocation.parse(url)
    assert location.topology == "sentinel" and location.service == SERVICE
    assert location.nodes == (("s1", 26379), ("s2", 26380)) and location.db == 2
    assert (location.password, location.prefix) == (SECRET, "team-a:")
    assert location.shown == f"redis+sentinel://s1:26379,s2:26380/{SERVICE}/2"
    assert SECRET not in repr(location)
    assert RedisLocation.parse(f"redis+sentinel://s1:1/{SERVICE}").db == 0


@pytest.mark.parametrize(
    ("prefix", "tagged"),
    [
        (None, "{llminst}:"),
        ("team-a:", "{team-a}:"),
        ("team-a", "{team-a}"),
        ("{mine}:x:", "{mine}:x:"),  # a tag of the user's own stays
        ("{}x:", "{{}x}:"),  # an empty tag is no tag (Redis hashes the whole key)
    ],
)
def test_a_cluster_url_puts_the_prefix_in_a_hash_tag(prefix: str | None, tagged: str) -> None:
    query = f"?prefix={prefix}" if prefix is not None else ""
    location = RedisLocation.parse(f"redis+cluster://n1:7000,n2:7001{query}")
    assert location.topology == "cluster" and location.nodes == (("n1", 7000), ("n2", 7001))
    assert location.prefix == tagged
    assert location.shown == "redis+cluster://n1:7000,n2:7001"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (f"redis+sentinel://:{SECRET}@s1:1", "needs the sentinel service name"),
        (f"redis+sentinel://:{SECRET}@s1:1/svc/zero", "database must be a number"),
        (f"redis+sentinel://:{SECRET}@s1/svc", "each node must be HOST:PORT"),
        (f"redis+cluster://:{SECRET}@", "needs at least one HOST:PORT"),
        (f"redis+cluster://:{SECRET}@n1:1/3", "a cluster has only database 0"),
        (f"redis+cluster://:{SECRET}@n1:1?prefx=a", "unknown option(s) prefx"),
    ],
)
def test_a_bad_topology_url_is_a_config_error_naming_the_forms(url: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        RedisLocation.parse(url)
    message = str(info.value)
    assert problem in message and "redis+sentinel://HOST:PORT" in message, message
    assert "redis+cluster://HOST:PORT" in message and SECRET not in message


@pytest.mark.parametrize(
    ("url", "fix"),
    [
        (f"redis+sentinel://:{SECRET}@127.0.0.1:{{port}}/svc", "monitors 'svc'"),
        (f"redis+cluster://:{SECRET}@127.0.0.1:{{port}}", "start Redis on 127.0.0.1:"),
    ],
)
async def test_an_unreachable_topology_is_one_line_naming_the_fix(url: str, fix: str) -> None:
    with pytest.raises(StoreUnreachableError) as info:
        await RedisStore.open(url.format(port=free_port()))
    message = str(info.value)
    assert "is unreachable" in message and fix in message and "\n" not in message, message
    assert SECRET not in message


async def test_a_sentinel_that_does_not_know_the_service_names_it(tmp_path: Path) -> None:
    with SentinelSet(tmp_path) as servers:
        wrong = servers.url.replace(SERVICE, "no-such-service")
        with pytest.raises(StoreUnreachableError) as info:
            await RedisStore.open(wrong)
    assert "monitors 'no-such-service'" in str(info.value), info.value


# -- the store through each topology ----------------------------------------------------------


@pytest.fixture(scope="module", params=["sentinel", "cluster"])
def topology(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SentinelSet | ClusterSet]:
    """One set of each kind for the tests below (their keys do not meet: calls, sessions and
    cooldowns vs a batch), not one per test: a set's start costs seconds on a loaded machine."""
    folder = tmp_path_factory.mktemp(f"topology-{request.param}")
    servers = SentinelSet(folder) if request.param == "sentinel" else ClusterSet(folder)
    with servers:
        yield servers


@pytest.fixture
async def store(topology: SentinelSet | ClusterSet) -> AsyncIterator[RedisStore]:
    opened = await RedisStore.open(topology.url)
    try:
        yield opened
    finally:
        await opened.aclose()


async def test_the_store_basics_hold_through_sentinel_and_cluster(store: RedisStore) -> None:
    await store.add_call(record("c1", created_at=1.0))
    await store.add_call(record("c2", created_at=2.0))
    await store.update_call("c1", state=CallState.RUNNING, started_at=1.5)
    for piece in ("héllo ", "漢字 ", "🎉"):
        await store.append_output("c1", piece)
    assert await store.read_output("c1") == "héllo 漢字 🎉"
    assert await store.read_output("c1", offset=6) == "漢字 🎉"
    got = await store.get_call("c1")
    assert got is not None and got.state is CallState.RUNNING and got.output_chars == 10
    assert [r.call_id for r in await store.list_calls()] == ["c2", "c1"]
    # The budget totals: keys a Lua script names from the prefix, in the store's slot.
    await store.update_call("c2", state=CallState.SUCCEEDED, attempts=1, cost_usd=0.25)
    assert await store.period_spend("daily", start=0.0) == [
        ModelSpend(model="echo", cost_usd=0.25, priced=1)
    ]

    turn = SessionRecord(name="s1", model="echo", created_at=1, updated_at=2)
    await store.put_session(turn)
    assert await store.get_session("s1") == turn
    assert [s.name for s in await store.list_sessions()] == ["s1"]

    cooldown = CooldownRecord(account="a", until=200.0, reason="429", model="m", set_at=100.0)
    await store.put_cooldown(cooldown)
    assert await store.get_cooldowns() == [cooldown]

    held = [
        await store.reserve_spend("b", amount=0.4, cap=1.0, now=0.0, ttl_s=60) for _ in range(4)
    ]
    assert held == [True, True, True, False]  # 1.2 would pass the cap: the fourth is refused
    await store.release_spend("b", amount=0.4)
    assert await store.reserve_spend("b", amount=0.4, cap=1.0, now=0.0, ttl_s=60)


async def test_a_pipeline_of_call_writes_holds_through_sentinel_and_cluster(
    store: RedisStore,
) -> None:
    """The recorder's pipelined writes (`write_pipelined`): in order, in one round trip,
    on a Sentinel-watched primary and across a cluster's nodes alike."""
    writes = [
        lambda: store.add_call(record("c1", created_at=1.0)),
        lambda: store.update_call("c1", state=CallState.RUNNING, started_at=1.5),
        lambda: store.append_output("c1", "héllo "),
        lambda: store.append_output("c1", "🎉"),
        lambda: store.update_call("c1", state=CallState.SUCCEEDED, attempts=1),
    ]
    assert await store.write_pipelined(writes) == []
    got = await store.get_call("c1")
    assert got is not None and got.state is CallState.SUCCEEDED and got.output_chars == 7
    assert await store.read_output("c1") == "héllo 🎉"


async def test_on_a_cluster_every_key_of_the_store_is_in_one_slot(tmp_path: Path) -> None:
    with ClusterSet(tmp_path) as cluster:
        store = await RedisStore.open(cluster.url + "?prefix=team-a:")
        try:
            await store.add_call(record("c1"))
            await store.append_output("c1", "out")
            await store.update_call("c1", state=CallState.SUCCEEDED, cost_usd=0.5)
            await store.put_cooldown(
                CooldownRecord(account="a", until=2.0, reason="429", model="m", set_at=1.0)
            )
        finally:
            await store.aclose()
        held = {node.port: _keys_of(node.port) for node in cluster.nodes}
        nonempty = {port: keys for port, keys in held.items() if keys}
        assert len(nonempty) == 1, held
        (keys,) = nonempty.values()
        assert all(key.startswith("{team-a}:") for key in keys), keys
        assert "{team-a}:ledger:daily:0" in keys  # the budget totals too
        slots = {redis_cli(cluster.nodes[0].port, "CLUSTER", "KEYSLOT", key) for key in keys}
        assert len(slots) == 1, slots


def _keys_of(port: int) -> list[str]:
    return [line for line in redis_cli(port, "--scan").splitlines() if line]


async def test_the_cancel_bus_reaches_a_listener_on_a_cluster(tmp_path: Path) -> None:
    with ClusterSet(tmp_path) as cluster:
        listener = await RedisStore.open(cluster.url)
        publisher = await RedisStore.open(cluster.url)
        heard: list[str] = []
        got = trio.Event()

        def on_cancel(call_id: str) -> None:
            heard.append(call_id)
            got.set()

        try:
            async with trio.open_nursery() as nursery:
                subscribed = trio.Event()
                prefix = listener.location.prefix
                nursery.start_soon(cancelbus.listen, listener.client, prefix, on_cancel, subscribed)
                await subscribed.wait()
                with trio.fail_after(60):  # generous: a loaded machine; it arrives in ms
                    while not got.is_set():
                        await cancelbus.publish_cancel(publisher.client, prefix, "call-1")
                        with trio.move_on_after(1):
                            await got.wait()
                nursery.cancel_scope.cancel()
        finally:
            await listener.aclose()
            await publisher.aclose()
        assert set(heard) == {"call-1"}


async def test_a_sweep_on_a_cluster_interrupts_the_calls_of_lapsed_writers_only(
    tmp_path: Path,
) -> None:
    with ClusterSet(tmp_path) as cluster:
        store = await RedisStore.open(cluster.url)
        prefix = store.location.prefix
        try:
            for call_id, writer in (("a1", "alive"), ("d1", "dead-1"), ("d2", "dead-2")):
                running = attrs.evolve(record(call_id), state=CallState.RUNNING, writer=writer)
                await store.add_call(running)
            await store.client.set(heartbeats.writer_key(prefix, "alive"), "1", px=600_000)
            assert await heartbeats.sweep(store, store.client, prefix=prefix) == 2
            states = {r.call_id: r.state for r in await store.list_calls()}
        finally:
            await store.aclose()
        assert states["a1"] is CallState.RUNNING
        assert states["d1"] is states["d2"] is not CallState.RUNNING


async def test_a_sentinel_failover_moves_the_store_to_the_promoted_replica_with_its_password(
    tmp_path: Path,
) -> None:
    with SentinelSet(tmp_path, password=SECRET) as servers:
        store = await RedisStore.open(servers.url)
        try:
            await store.add_call(record("before"))
            await store.append_output("before", "kept")
            assert "1" in servers.cli(servers.primary.port, "WAIT", "1", "30000")  # replicated
            old_port = servers.primary.port
            servers.primary.kill()
            wait_for("the replica promoted", lambda: servers.primary_port() == servers.replica.port)
            assert servers.primary_port() != old_port
            with trio.fail_after(90):  # generous: the client's first tries may meet the dead one
                await _add_until_accepted(store, record("after"))
            assert await store.read_output("before") == "kept"
            assert [r.call_id for r in await store.list_calls()] == ["before", "after"]
        finally:
            await store.aclose()
        assert "after" in servers.cli(servers.replica.port, "HGET", "llminst:call:after", "call_id")


async def _add_until_accepted(store: RedisStore, call: CallRecord) -> None:
    while True:
        try:
            await store.add_call(call)
            return
        except Exception as exc:  # the old primary's refused connection, before rediscovery
            print("not yet:", repr(exc))
            await trio.sleep(0.5)


async def test_a_batch_queue_works_on_a_cluster_and_through_sentinel(
    topology: SentinelSet | ClusterSet,
) -> None:
    async with open_redis_batch_queue(topology.url) as queue:
        await queue.create(
            "b", [BatchItem(item_id="i0", prompt="p", model="echo")], source="t", now=1.0
        )
        claimed = await queue.take("w1", claim_after_s=60, block_s=1)
        assert claimed is not None and claimed.item.item_id == "i0"
        done = ItemResult(item_id="i0", model="echo", state="succeeded", answer="a", worker="w1")
        assert await queue.complete(claimed, done)
        assert await queue.results("b") == [done]


# -- the command line -------------------------------------------------------------------------


def test_run_on_a_cluster_records_its_call(tmp_path: Path) -> None:
    with ClusterSet(tmp_path) as cluster:
        ran = _llminst("run", "--store", cluster.url, "echo", "héllo cluster")
        assert ran.returncode == 0 and ran.stdout.strip() == "héllo cluster", ran.stderr
        listed = _llminst("calls", "--store", cluster.url, "--json")
        assert listed.returncode == 0, listed.stderr
        (call,) = json.loads(listed.stdout)
        assert call["state"] == "succeeded" and call["origin"] == "run"
        assert call["output_chars"] == len("héllo cluster")
        keys = [key for node in cluster.nodes for key in _keys_of(node.port)]
        assert f"{{llminst}}:call:{call['call_id']}" in keys, keys


def _llminst(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LLMINST, *args], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )
