"""Session locks through Redis Sentinel and Redis Cluster: one holder at a time through each,
and on a cluster the lock's key lands in the store's one hash slot (the Lua scripts could not
run otherwise). Real `redis-server` processes on 127.0.0.1 (`support.redis_topologies`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llminst.store.redis import RedisStore

from ..support.redis_topologies import ClusterSet, SentinelSet, redis_cli

LEASE = {"lease_s": 30.0, "now": 0.0}


@pytest.mark.parametrize("topology", ["sentinel", "cluster"])
async def test_a_session_lock_holds_through_sentinel_and_cluster(
    tmp_path: Path, topology: str
) -> None:
    servers = SentinelSet(tmp_path) if topology == "sentinel" else ClusterSet(tmp_path)
    with servers:
        store = await RedisStore.open(servers.url)
        try:
            assert await store.acquire_session_lock("chat", "a", **LEASE) == "a"
            assert await store.acquire_session_lock("chat", "b", **LEASE) == "a"
            assert await store.renew_session_lock("chat", "a", **LEASE)
            await store.release_session_lock("chat", "a")
            assert await store.acquire_session_lock("chat", "b", **LEASE) == "b"
        finally:
            await store.aclose()


async def test_on_a_cluster_a_session_lock_is_in_the_stores_slot(tmp_path: Path) -> None:
    with ClusterSet(tmp_path) as cluster:
        store = await RedisStore.open(cluster.url + "?prefix=team-a:")
        try:
            assert await store.acquire_session_lock("chat", "a", **LEASE) == "a"
            assert await store.acquire_session_lock("other", "a", **LEASE) == "a"
        finally:
            await store.aclose()
        keys = [
            line
            for node in cluster.nodes
            for line in redis_cli(node.port, "--scan").splitlines()
            if line
        ]
        locks = [key for key in keys if ":session-lock:" in key]
        assert sorted(locks) == ["{team-a}:session-lock:chat", "{team-a}:session-lock:other"]
        assert all(key.startswith("{team-a}:") for key in keys), keys  # ledger:v1 beside them
        slots = {redis_cli(cluster.nodes[0].port, "CLUSTER", "KEYSLOT", key) for key in keys}
        assert len(slots) == 1, slots
