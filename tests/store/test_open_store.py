"""`open_store`: a spec names the store; opening purges calls past the retention period and
marks calls whose writer is gone as interrupted (a live writer's calls are left running)."""

from __future__ import annotations

import time
from pathlib import Path

from llminst._core.records import CallRecord, CallState
from llminst.store import MemoryStore, SQLiteStore, open_store
from llminst.supervisor.recorder import writer_identity

DAY = 86_400.0


async def test_opening_purges_old_calls_and_interrupts_orphans(tmp_path: Path) -> None:
    path = tmp_path / "calls.sqlite3"
    now = time.time()
    store = await SQLiteStore.open(path)
    for call_id, age_days, writer in [
        ("old", 40, None),
        ("recent-orphan", 2, writer_identity().split(":")[0] + ":999999999:1"),  # gone
        ("elsewhere", 2, "another-host:1:1"),
        ("recent-mine", 2, writer_identity()),
    ]:
        await store.add_call(
            CallRecord(
                call_id=call_id,
                model="echo",
                state=CallState.RUNNING,
                created_at=now - age_days * DAY,
                writer=writer,
            )
        )
    await store.aclose()
    async with open_store(path, retention_days=30) as opened:
        assert await opened.get_call("old") is None
        states = {r.call_id: r.state for r in await opened.list_calls()}
    assert states == {
        "recent-orphan": CallState.INTERRUPTED,
        "recent-mine": CallState.RUNNING,  # this process: alive
        "elsewhere": CallState.RUNNING,  # another host cannot be checked from here
    }
    async with open_store(str(path), retention_days=1) as opened:
        assert await opened.list_calls() == []


async def test_memory_spec_opens_a_memory_store() -> None:
    async with open_store("memory") as store:
        assert isinstance(store, MemoryStore)


def test_opening_a_store_prints_nothing_on_stdout(tmp_path: Path) -> None:
    """A library (or a stdio server) that opens a store before configuring logging must not
    get the store's log line on stdout, which may belong to a protocol."""
    import subprocess
    import sys

    code = (
        "import trio\n"
        "from llminst.store.opening import open_store\n"
        "async def main():\n"
        f"    async with open_store({str(tmp_path / 's.sqlite3')!r}):\n"
        "        pass\n"
        "trio.run(main)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
