"""Every store backend keeps the `CallStore` contract alike: the in-memory one, SQLite on a
real file and Redis on a real server. Each test runs once per backend (`conftest.store`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trio

from llminst._core.records import CallOrigin, CallRecord, CallState, SessionRecord, Turn
from llminst.store import CallStore, SQLiteStore

# Code points that are more than one UTF-8 byte, combine with their neighbour, or are NUL.
TRICKY = "é🎉漢字e\u0301👩\u200d👩\u200d👧\x00\n"


def record(call_id: str, *, created_at: float = 100.0, **fields: object) -> CallRecord:
    values: dict[str, object] = {"model": "echo", "state": CallState.QUEUED}
    values.update(fields)
    return CallRecord(call_id=call_id, created_at=created_at, **values)  # type: ignore[arg-type]


async def test_a_call_round_trips_with_every_field(store: CallStore) -> None:
    full = CallRecord(
        call_id="c1",
        model="claude:sonnet",
        state=CallState.SUCCEEDED,
        origin=CallOrigin.MCP,
        created_at=1.5,
        started_at=2.5,
        finished_at=3.5,
        attempts=2,
        exit_code=0,
        error_kind="timeout",
        error="it took too long ü",
        usage={"input_tokens": 3, "nested": {"a": [1, 2]}},
        cost_usd=0.25,
        cli_session_id="s-1",
        session="my-session",
        cwd="/tmp/x",
        prompt="héllo " + TRICKY,
        owner="owner-fp",
        writer="host:1:2",
        output_chars=99,  # a new call's output starts empty, whatever it says
        result={"success": True, "duration_s": None},
    )
    await store.add_call(full)
    assert await store.get_call("c1") == full.evolve(output_chars=0)
    assert await store.get_call("missing") is None


async def test_update_changes_only_the_given_fields(store: CallStore) -> None:
    await store.add_call(record("c1", prompt="p"))
    await store.update_call("c1", state=CallState.RUNNING, attempts=1, usage={"x": 1})
    got = await store.get_call("c1")
    assert got == record("c1", prompt="p", state=CallState.RUNNING, attempts=1, usage={"x": 1})
    await store.update_call("missing", state=CallState.FAILED)  # nothing, no error
    assert await store.get_call("missing") is None


async def test_output_appends_counts_and_resets(store: CallStore) -> None:
    await store.add_call(record("c1"))
    await store.append_output("c1", "ab")
    await store.append_output("c1", "")
    await store.append_output("c1", TRICKY)
    got = await store.get_call("c1")
    assert got is not None and got.output_chars == 2 + len(TRICKY)
    assert await store.read_output("c1") == "ab" + TRICKY
    await store.reset_output("c1")
    assert await store.read_output("c1") == ""
    assert (await store.get_call("c1")).output_chars == 0  # type: ignore[union-attr]
    await store.append_output("c1", "again")
    assert await store.read_output("c1") == "again"
    await store.append_output("missing", "lost")  # an unknown call keeps nothing
    assert await store.read_output("missing") == ""


async def test_reading_past_the_end_or_with_no_room_gives_nothing(store: CallStore) -> None:
    await store.add_call(record("c1"))
    await store.append_output("c1", "abc")
    assert await store.read_output("c1", 3) == ""
    assert await store.read_output("c1", 10, 5) == ""
    assert await store.read_output("c1", 1, 0) == ""
    assert await store.read_output("c1", 1, 100) == "bc"


# Appended as pieces of every length, so chunk boundaries fall inside and between the tricky
# characters: 1 to 4 UTF-8 bytes, a combining accent, a ZWJ sequence, NUL.
PIECES = ["é", "🎉漢", "", "e\u0301", "👩\u200d👩\u200d👧", "\x00x", "字", "a", "🎉" * 3]


async def test_pages_at_every_offset_concatenate_to_exactly_the_output(store: CallStore) -> None:
    """Read from every offset with every page size: each page is the exact slice (never a
    split code point), and the pages join to the output."""
    await store.add_call(record("c1"))
    for piece in PIECES:
        await store.append_output("c1", piece)
    output = "".join(PIECES)
    assert await store.read_output("c1") == output
    for offset in range(len(output) + 1):
        assert await store.read_output("c1", offset) == output[offset:]
    for size in range(1, len(output) + 1):
        starts = range(0, len(output), size)
        pages = [await store.read_output("c1", at, size) for at in starts]
        assert pages == [output[at : at + size] for at in starts]
        assert "".join(pages) == output


async def test_list_filters_and_orders_newest_first(store: CallStore) -> None:
    await store.add_call(record("old", created_at=1, model="echo"))
    await store.add_call(record("mid", created_at=2, model="claude", owner="a"))
    await store.add_call(record("new", created_at=3, model="echo", owner="b"))
    await store.update_call("mid", state=CallState.FAILED)

    async def ids(**filters: object) -> list[str]:
        return [r.call_id for r in await store.list_calls(**filters)]  # type: ignore[arg-type]

    assert await ids() == ["new", "mid", "old"]
    assert await ids(limit=2) == ["new", "mid"]
    assert await ids(model="echo") == ["new", "old"]
    assert await ids(states=[CallState.FAILED]) == ["mid"]
    assert await ids(states=[CallState.FAILED, CallState.QUEUED]) == ["new", "mid", "old"]
    assert await ids(owner="a") == ["mid"]
    assert await ids(model="echo", owner="a") == []


async def test_interrupt_running_spares_live_writers_and_keeps_output(store: CallStore) -> None:
    await store.add_call(record("dead", state=CallState.RUNNING, writer="h:1:1"))
    await store.add_call(record("alive", state=CallState.RUNNING, writer="h:2:2"))
    await store.add_call(record("queued", writer="h:1:1"))
    await store.add_call(record("nobody", state=CallState.RUNNING))
    await store.add_call(record("done", state=CallState.SUCCEEDED, writer="h:1:1"))
    await store.append_output("dead", "partial ü")
    asked: list[str] = []

    def alive(writer: str) -> bool:
        asked.append(writer)
        return writer == "h:2:2"

    assert await store.interrupt_running(now=50.0, writer_alive=alive) == 3
    states = {r.call_id: r.state for r in await store.list_calls()}
    assert states == {
        "dead": CallState.INTERRUPTED,
        "queued": CallState.INTERRUPTED,
        "nobody": CallState.INTERRUPTED,
        "alive": CallState.RUNNING,
        "done": CallState.SUCCEEDED,
    }
    assert (await store.get_call("dead")).finished_at == 50.0  # type: ignore[union-attr]
    assert await store.read_output("dead") == "partial ü"
    assert set(asked) == {"h:1:1", "h:2:2"}


async def test_purge_deletes_old_calls_and_their_output(store: CallStore) -> None:
    await store.add_call(record("old", created_at=10))
    await store.append_output("old", "gone")
    await store.add_call(record("new", created_at=20))
    await store.append_output("new", "kept")
    assert await store.purge(before=15) == 1
    assert await store.get_call("old") is None and await store.read_output("old") == ""
    assert await store.read_output("new") == "kept"
    await store.add_call(record("old", created_at=30))  # an id may come back, empty
    assert await store.read_output("old") == ""


async def test_sessions_round_trip_replace_and_list(store: CallStore) -> None:
    first = SessionRecord(
        name="s1",
        model="claude",
        cli_session_id="abc",
        cli_model="claude",
        cli_host="replica-a",
        turns=(
            Turn(role="user", text="hi " + TRICKY, model="claude", call_id="c1"),
            Turn(role="assistant", text="hello", model="claude"),
        ),
        created_at=1,
        updated_at=2,
        owner="o",
    )
    second = SessionRecord(name="s2", model="echo", created_at=1, updated_at=3)
    await store.put_session(first)
    await store.put_session(second)
    assert await store.get_session("s1") == first
    assert await store.get_session("nope") is None
    assert [s.name for s in await store.list_sessions()] == ["s2", "s1"]
    assert [s.name for s in await store.list_sessions(owner="o")] == ["s1"]
    assert [s.name for s in await store.list_sessions(limit=1)] == ["s2"]
    moved = first.evolve(model="gemini", updated_at=9)
    await store.put_session(moved)
    assert await store.get_session("s1") == moved
    assert [s.name for s in await store.list_sessions()] == ["s1", "s2"]


async def test_a_sessions_cli_host_round_trips_and_moves(store: CallStore) -> None:
    """Where the CLI's resume state lives is kept with the session, and a turn on another
    host moves it there (or clears it, for a CLI without one)."""
    on_a = SessionRecord(
        name="h", model="claude", cli_session_id="sid-1", cli_model="claude",
        cli_host="replica-a", created_at=1, updated_at=2,
    )  # fmt: skip
    await store.put_session(on_a)
    stored = await store.get_session("h")
    assert stored is not None and stored.cli_host == "replica-a"
    await store.put_session(on_a.evolve(cli_session_id="sid-2", cli_host="replica-b"))
    stored = await store.get_session("h")
    assert stored is not None and (stored.cli_session_id, stored.cli_host) == ("sid-2", "replica-b")
    await store.put_session(on_a.evolve(cli_session_id=None, cli_model=None, cli_host=None))
    listed = await store.list_sessions()
    assert [(s.name, s.cli_host) for s in listed] == [("h", None)]


async def test_a_closed_store_refuses_work_at_once(store: CallStore) -> None:
    """Regression: a SQLite store used after `aclose` queued the work for its stopped thread
    and waited forever."""
    await store.aclose()
    if isinstance(store, SQLiteStore):
        with pytest.raises(trio.ClosedResourceError):
            await store.get_call("c1")


async def test_starts_racing_on_a_new_file_share_one_schema(tmp_path: Path) -> None:
    """Regression: two processes opening a new store file at once both created the schema;
    the second failed with `table calls already exists`. Here, eight openers at once (each
    its own connection and thread, as separate processes would be)."""
    for round_ in range(5):
        path = tmp_path / f"race-{round_}.sqlite3"
        opened: list[SQLiteStore] = []

        async def open_one(path: Path = path, opened: list[SQLiteStore] = opened) -> None:
            opened.append(await SQLiteStore.open(path))

        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(open_one)
        for one in opened:
            await one.aclose()
        assert len(opened) == 8


# The sessions table as schema 1 first shipped it (before `cli_host`), with the pragmas that
# mark the file as an llminst store.
_SESSIONS_BEFORE_CLI_HOST = """
PRAGMA application_id = 1819045225;
PRAGMA user_version = 1;
CREATE TABLE sessions (
    name TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    cli_session_id TEXT,
    cli_model TEXT,
    turns TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    owner TEXT
);
INSERT INTO sessions VALUES (
    'old', 'claude', 'sid-0', 'claude',
    '[{"role": "user", "text": "hi", "model": "claude", "call_id": null}]', 1.0, 2.0, NULL
);
"""


async def test_a_store_file_from_before_cli_host_opens_and_gains_the_column(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(_SESSIONS_BEFORE_CLI_HOST)
    old.close()

    store = await SQLiteStore.open(path)
    try:
        kept = await store.get_session("old")
        assert kept is not None and (kept.cli_session_id, kept.cli_host) == ("sid-0", None)
        await store.put_session(kept.evolve(cli_session_id="sid-1", cli_host="replica-b"))
    finally:
        await store.aclose()
    store = await SQLiteStore.open(path)  # a second open finds the column there already
    try:
        moved = await store.get_session("old")
        assert moved is not None and len(moved.turns) == 1
        assert (moved.cli_session_id, moved.cli_host) == ("sid-1", "replica-b")
    finally:
        await store.aclose()


async def test_cooldowns_round_trip_one_per_account(store: CallStore) -> None:
    from llminst._core.cooldowns import CooldownRecord

    assert await store.get_cooldowns() == []
    first = CooldownRecord(account="a", until=200.0, reason="429", model="m", set_at=100.0)
    await store.put_cooldown(first)
    again = CooldownRecord(
        account="a", until=260.0, reason="slow down", model="m:x", strikes=2, set_at=150.0
    )
    other = CooldownRecord(account="b", until=90.0, reason="quota", model="n", set_at=80.0)
    await store.put_cooldown(again)
    await store.put_cooldown(other)
    kept = sorted(await store.get_cooldowns(), key=lambda c: c.account)
    assert kept == [again, other]


async def test_cancel_requests_are_kept_per_call_and_go_with_a_purged_call(
    store: CallStore,
) -> None:
    await store.add_call(record("old", created_at=10))
    await store.add_call(record("new", created_at=20))
    assert await store.cancel_requested(["old", "new", "missing"]) == []
    await store.request_cancel("old", now=30.0)
    await store.request_cancel("old", now=31.0)  # asking twice is harmless
    await store.request_cancel("new", now=32.0)
    assert sorted(await store.cancel_requested(["old", "new", "missing"])) == ["new", "old"]
    assert await store.cancel_requested(["new"]) == ["new"]
    assert await store.cancel_requested([]) == []
    assert await store.purge(before=15) == 1
    assert await store.cancel_requested(["old", "new"]) == ["new"]
