"""What only the Redis store has: its URL (password from the URL or the environment, never
shown), an unreachable or password-protected server as one clear line, several clients (
replicas) on one server, key prefixes, retention, and the command line on a Redis store.

Real `redis-server` processes on 127.0.0.1 (`support.redis`), real `llminst` processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import trio
import trio.lowlevel

from llminst._core.budget import ModelSpend, period
from llminst._core.errors import ConfigError
from llminst._core.records import CallRecord, CallState
from llminst.store import open_store, store_label
from llminst.store.redis import RedisLocation, RedisStore, StoreUnreachableError
from llminst.store.redis.tallies import count_existing

from ..support.paths import LLMINST
from ..support.redis import RedisServer
from ..support.serve import free_port

SECRET = "s3cr3t-pässword"


def record(call_id: str, *, created_at: float = 100.0, **fields: object) -> CallRecord:
    values: dict[str, object] = {"model": "echo", "state": CallState.QUEUED, **fields}
    return CallRecord(call_id=call_id, created_at=created_at, **values)  # type: ignore[arg-type]


def llminst(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LLMINST, *args], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )


# -- the URL ----------------------------------------------------------------------------------


def test_a_url_names_host_port_db_prefix_and_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMINST_REDIS_PASSWORD", raising=False)
    full = RedisLocation.parse("rediss://me:p%40ss@cache.example:6380/3?prefix=team-a:")
    assert (full.host, full.port, full.db, full.tls) == ("cache.example", 6380, 3, True)
    assert (full.username, full.password, full.prefix) == ("me", "p@ss", "team-a:")
    assert full.shown == "rediss://cache.example:6380/3" and "p@ss" not in repr(full)
    bare = RedisLocation.parse("redis://localhost")
    assert (bare.port, bare.db, bare.tls, bare.password, bare.prefix) == (
        6379,
        0,
        False,
        None,
        "llminst:",
    )


def test_the_password_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMINST_REDIS_PASSWORD", SECRET)
    assert RedisLocation.parse("redis://h:1/0").password == SECRET
    assert RedisLocation.parse("redis://:own@h:1/0").password == "own"  # the URL's wins


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis://h:notaport/0", "port and database must be numbers"),
        (f"redis://:{SECRET}@h:1/zero", "port and database must be numbers"),
        ("redis:///0", "needs a host"),
        (f"redis://:{SECRET}@h:1/0?prefx=a", "unknown option(s) prefx"),
    ],
)
def test_a_bad_url_is_a_config_error_that_never_repeats_the_password(
    url: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        RedisLocation.parse(url)
    message = str(info.value)
    assert problem in message and "redis://HOST:PORT/DB" in message
    assert SECRET not in message


def test_a_store_label_never_shows_the_password() -> None:
    assert store_label(f"redis://:{SECRET}@127.0.0.1:7000/2") == "redis://127.0.0.1:7000/2"


# -- reaching the server ----------------------------------------------------------------------


async def test_an_unreachable_server_is_one_line_naming_host_port_and_the_fix() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(StoreUnreachableError) as info:
        async with open_store(f"redis://:{SECRET}@127.0.0.1:{port}/0"):
            pass
    message = str(info.value)
    assert message.startswith(f"store redis://127.0.0.1:{port}/0 is unreachable")
    assert f"start Redis on 127.0.0.1:{port}" in message and "\n" not in message
    assert SECRET not in message


async def test_a_password_protected_server_takes_the_urls_or_the_environments_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLMINST_REDIS_PASSWORD", raising=False)
    with RedisServer(tmp_path / "redis", password=SECRET) as server:
        bare = f"redis://127.0.0.1:{server.port}/0"
        with pytest.raises(StoreUnreachableError) as info:
            await RedisStore.open(bare)
        assert "refused the credentials" in str(info.value)
        assert "LLMINST_REDIS_PASSWORD" in str(info.value)
        wrong = f"redis://:wrong-{SECRET}@127.0.0.1:{server.port}/0"
        with pytest.raises(StoreUnreachableError) as info:
            await RedisStore.open(wrong)
        assert SECRET not in str(info.value)
        store = await RedisStore.open(server.url)  # the password in the URL
        await store.add_call(record("c1"))
        await store.aclose()
        monkeypatch.setenv("LLMINST_REDIS_PASSWORD", SECRET)
        store = await RedisStore.open(bare)
        assert (await store.get_call("c1")) == record("c1")
        await store.aclose()


# -- several replicas on one server -----------------------------------------------------------


async def test_another_replica_tails_a_calls_output_while_it_is_appended(
    redis_server: RedisServer,
) -> None:
    """Replica A appends 200 pieces (multi-byte text among them); replica B reads from where
    it got to, by character offset, until the call ends: it gets exactly the output."""
    writer = await RedisStore.open(redis_server.url)
    reader = await RedisStore.open(redis_server.url)
    pieces = [f"{n}:é🎉漢{'x' * (n % 7)}\n" for n in range(200)]
    tailed: list[str] = []
    try:
        await writer.add_call(record("c1", state=CallState.RUNNING))

        async def write() -> None:
            for piece in pieces:
                await writer.append_output("c1", piece)
                await trio.lowlevel.checkpoint()
            await writer.update_call("c1", state=CallState.SUCCEEDED)

        async def tail() -> None:
            offset = 0
            while True:
                got = await reader.get_call("c1")
                assert got is not None
                text = await reader.read_output("c1", offset, 500)
                tailed.append(text)
                offset += len(text)
                if got.state.done and offset == got.output_chars:
                    return
                await trio.sleep(0.001)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(tail)
            nursery.start_soon(write)
    finally:
        await writer.aclose()
        await reader.aclose()
    assert "".join(tailed) == "".join(pieces)
    assert sum(1 for text in tailed if text) > 1  # it did read while the call ran


async def test_prefixes_keep_two_stores_on_one_server_apart(redis_server: RedisServer) -> None:
    team_a = await RedisStore.open(f"{redis_server.url}?prefix=a:")
    team_b = await RedisStore.open(f"{redis_server.url}?prefix=b:")
    try:
        await team_a.add_call(record("c1"))
        assert await team_b.get_call("c1") is None and await team_b.list_calls() == []
        assert [r.call_id for r in await team_a.list_calls()] == ["c1"]
    finally:
        await team_a.aclose()
        await team_b.aclose()


async def test_retention_at_open_deletes_old_calls_and_leaves_no_keys_behind(
    redis_server: RedisServer,
) -> None:
    import time

    now = time.time()
    async with open_store(redis_server.url) as store:
        await store.add_call(record("old", created_at=now - 40 * 86400))
        await store.append_output("old", "gone")
        await store.request_cancel("old", now=now)
        await store.add_call(record("new", created_at=now, state=CallState.SUCCEEDED))
        await store.append_output("new", "kept")
    async with open_store(redis_server.url, retention_days=30) as store:
        assert await store.get_call("old") is None
        assert await store.read_output("new") == "kept"
        assert isinstance(store, RedisStore)
        keys = sorted(await store._redis.keys("*"))
    day, month = (period(kind, now)[0] for kind in ("daily", "monthly"))
    assert keys == [
        "llminst:call:new",
        "llminst:calls",
        # the budget totals: only the kept call's day and month (the old one's month gone)
        f"llminst:ledger:daily:{day:.0f}",
        f"llminst:ledger:monthly:{month:.0f}",
        "llminst:ledger:v1",
        "llminst:out:new",
    ]


async def test_a_store_written_before_the_budget_totals_gets_them_at_open(
    redis_server: RedisServer,
) -> None:
    """Records written by an llminst that kept no totals are counted once at the next open
    (then the marker says so); counting again (another replica racing) adds nothing."""
    now = 1_700_000_000.0  # 2023-11-14
    ended = {"state": CallState.SUCCEEDED, "attempts": 1, "result": {"model": "m"}}
    async with open_store(redis_server.url, retention_days=1e6) as store:
        for n in range(3):
            await store.add_call(record(f"c{n}", created_at=now + n, cost_usd=0.25, **ended))
        assert isinstance(store, RedisStore)
        old = await store._redis.keys("llminst:ledger:*")
        await store._redis.delete(old)  # as an older llminst left the store
        await store._redis.hdel("llminst:call:c0", ["_ledger"])
        await store._redis.hdel("llminst:call:c1", ["_ledger"])
        await store._redis.hdel("llminst:call:c2", ["_ledger"])
        assert await store.period_spend("monthly", start=now) == []
    for _ in range(2):
        async with open_store(redis_server.url, retention_days=1e6) as store:
            assert await store.period_spend("monthly", start=now) == [
                ModelSpend(model="m", cost_usd=0.75, priced=3)
            ]
            assert isinstance(store, RedisStore)
            await count_existing(store._redis, store._keys, store._script)  # a racing replica
            assert await store.period_spend("daily", start=now) == [
                ModelSpend(model="m", cost_usd=0.75, priced=3)
            ]


# -- the command line -------------------------------------------------------------------------


def test_run_records_its_call_in_redis_and_calls_lists_it(redis_server: RedisServer) -> None:
    prompt = "héllo 漢字 🎉"
    ran = llminst("run", "--store", redis_server.url, "echo", prompt)
    assert ran.returncode == 0, ran.stderr
    listed = llminst("calls", "--store", redis_server.url, "--json")
    assert listed.returncode == 0, listed.stderr
    (call,) = json.loads(listed.stdout)
    assert call["state"] == "succeeded" and call["origin"] == "run" and call["prompt"] == prompt
    assert call["output_chars"] == len(prompt)
    shown = llminst("show", "--store", redis_server.url, call["call_id"])
    assert shown.returncode == 0 and shown.stdout == prompt

    async def in_redis() -> list[str]:  # the server itself holds it (not a file named redis:)
        store = await RedisStore.open(redis_server.url)
        try:
            return [r.call_id for r in await store.list_calls()]
        finally:
            await store.aclose()

    assert trio.run(in_redis) == [call["call_id"]]


def test_an_unreachable_redis_store_is_exit_2_and_one_line() -> None:
    port = free_port()
    ran = llminst("calls", "--store", f"redis://:{SECRET}@127.0.0.1:{port}/0")
    assert ran.returncode == 2
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and f"store redis://127.0.0.1:{port}/0 is unreachable" in lines[0]
    assert lines[0].startswith("llminst: config: ") and SECRET not in ran.stderr


def test_without_coredis_a_redis_store_says_to_install_the_extra(
    redis_server: RedisServer,
) -> None:
    """coredis hidden from the import system, as when the [redis] extra is not installed."""
    code = (
        "import sys; sys.modules['coredis'] = None; "
        "from llminst.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code, "calls", "--store", redis_server.url],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert ran.returncode == 2, ran.stderr
    assert "install llminst[redis]" in ran.stderr and "Traceback" not in ran.stderr


async def test_a_session_stored_before_cli_host_reads_with_none(redis_server: RedisServer) -> None:
    """A session JSON written before the record had `cli_host` (an older replica's) still
    reads: its host is unknown (None), so any replica resumes it, as before."""
    async with open_store(redis_server.url) as store:
        assert isinstance(store, RedisStore)
        before = {
            "name": "old", "model": "claude", "cli_session_id": "sid-0", "cli_model": "claude",
            "turns": [{"role": "user", "text": "hi", "model": "claude", "call_id": None}],
            "created_at": 1.0, "updated_at": 2.0, "owner": None,
        }  # fmt: skip
        await store._redis.set("llminst:session:old", json.dumps(before))
        kept = await store.get_session("old")
    assert kept is not None and (kept.cli_session_id, kept.cli_host) == ("sid-0", None)
