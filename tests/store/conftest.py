"""The `store` fixture of the contract suites: one backend per parameter, the SAME tests for
each -- in memory, SQLite on a real file, and Redis on a real redis-server of the test's own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from llminst.store import CallStore, MemoryStore, SQLiteStore
from llminst.store.redis import RedisStore

from ..support.redis import RedisServer


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CallStore]:
    backend: CallStore
    server: RedisServer | None = None
    if request.param == "memory":
        backend = MemoryStore()
    elif request.param == "sqlite":
        backend = await SQLiteStore.open(tmp_path / "calls.sqlite3")
    else:
        server = RedisServer(tmp_path / "redis").start()
        backend = await RedisStore.open(server.url)
    try:
        yield backend
    finally:
        await backend.aclose()
        if server is not None:
            server.stop()
