"""`SQLiteBatchQueue`: batches run in this process, kept in the call store's SQLite file (or in
memory for ``--store memory``), so an interrupted batch resumes where it stopped.

Two tables, created if missing beside the store's own: ``batches`` (one row per batch) and
``batch_items`` (one row per item: its JSON, its state, its result). Items are taken in file
order; `take` marks one running; `complete` ends it only if it has no result yet; `requeue`
(at resume) turns items left running by an interrupted run back to pending.

Its own connection, used from one worker thread at a time (`trio.to_thread`, a limiter of 1):
a batch writes a few rows per call, nothing on a call's streaming path. What it must never do:
touch the file from the trio thread, or keep a second result for an item.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import trio

from .._core.batchfile import BatchItem, BatchProgress, ItemResult, progress_of
from .._core.errors import InvalidInputError
from .queue import Claimed

__all__ = ["SQLiteBatchQueue"]

T = TypeVar("T")

_BUSY_TIMEOUT_MS = 10_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    source TEXT NOT NULL,
    total INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS batch_items (
    batch_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    item_id TEXT NOT NULL,
    item TEXT NOT NULL,
    state TEXT NOT NULL,
    runs INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    PRIMARY KEY (batch_id, item_id)
);
CREATE INDEX IF NOT EXISTS batch_items_state ON batch_items (batch_id, state, seq);
"""


class SQLiteBatchQueue:
    """A `BatchQueue` in a SQLite file; open it with `open`, close it with `aclose`."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._limiter = trio.CapacityLimiter(1)

    @classmethod
    async def open(cls, path: Path | None) -> SQLiteBatchQueue:
        """Open the queue in the store file `path` (None: in memory), creating its tables."""
        connection = await trio.to_thread.run_sync(_connect, path)
        return cls(connection)

    async def aclose(self) -> None:
        await self._run(self._db.close)

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(work, *args, limiter=self._limiter)

    async def create(
        self, batch_id: str, items: Sequence[BatchItem], *, source: str, now: float
    ) -> None:
        def insert() -> None:
            with self._db:
                exists = self._db.execute(
                    "SELECT 1 FROM batches WHERE batch_id = ?", (batch_id,)
                ).fetchone()
                if exists:
                    raise InvalidInputError(
                        f"batch {batch_id} already exists: resume it with "
                        f"llminst batch resume {batch_id}, or choose another --id"
                    )
                self._db.execute(
                    "INSERT INTO batches VALUES (?, ?, ?, ?)", (batch_id, now, source, len(items))
                )
                self._db.executemany(
                    "INSERT INTO batch_items (batch_id, seq, item_id, item, state) "
                    "VALUES (?, ?, ?, ?, 'pending')",
                    [(batch_id, n, it.item_id, it.to_json()) for n, it in enumerate(items)],
                )

        await self._run(insert)

    async def exists(self, batch_id: str) -> bool:
        row = await self._run(self._one, "SELECT 1 FROM batches WHERE batch_id = ?", (batch_id,))
        return row is not None

    async def requeue(self, batch_id: str) -> int:
        """Turn the items an interrupted run left running back to pending; how many."""

        def update() -> int:
            with self._db:
                return self._db.execute(
                    "UPDATE batch_items SET state = 'pending' "
                    "WHERE batch_id = ? AND state = 'running'",
                    (batch_id,),
                ).rowcount

        return await self._run(update)

    async def take(self, batch_id: str) -> Claimed | None:
        """Mark the first pending item running and return it (None: nothing pending)."""

        def claim() -> Claimed | None:
            with self._db:
                row = self._db.execute(
                    "SELECT item_id, item FROM batch_items WHERE batch_id = ? "
                    "AND state = 'pending' ORDER BY seq LIMIT 1",
                    (batch_id,),
                ).fetchone()
                if row is None:
                    return None
                self._db.execute(
                    "UPDATE batch_items SET state = 'running', runs = runs + 1 "
                    "WHERE batch_id = ? AND item_id = ?",
                    (batch_id, row[0]),
                )
            return Claimed(batch_id, BatchItem.from_json(row[1]))

        return await self._run(claim)

    async def complete(self, claimed: Claimed, result: ItemResult) -> bool:
        def update() -> bool:
            with self._db:
                return (
                    self._db.execute(
                        "UPDATE batch_items SET state = ?, result = ? WHERE batch_id = ? "
                        "AND item_id = ? AND result IS NULL",
                        (result.state, result.to_json(), claimed.batch_id, result.item_id),
                    ).rowcount
                    == 1
                )

        return await self._run(update)

    async def is_done(self, batch_id: str, item_id: str) -> bool:
        row = await self._run(
            self._one,
            "SELECT result IS NOT NULL FROM batch_items WHERE batch_id = ? AND item_id = ?",
            (batch_id, item_id),
        )
        return bool(row and row[0])

    async def progress(self, batch_id: str) -> BatchProgress | None:
        def read() -> BatchProgress | None:
            batch = self._db.execute(
                "SELECT created_at, source, total FROM batches WHERE batch_id = ?", (batch_id,)
            ).fetchone()
            if batch is None:
                return None
            rows = self._db.execute(
                "SELECT state, runs FROM batch_items WHERE batch_id = ?", (batch_id,)
            ).fetchall()
            return progress_of(
                batch_id,
                batch[2],
                (state for state, _ in rows),
                runs=sum(runs for _, runs in rows),
                created_at=batch[0],
                source=batch[1],
            )

        return await self._run(read)

    async def results(self, batch_id: str) -> list[ItemResult]:
        rows = await self._run(
            self._all,
            "SELECT result FROM batch_items WHERE batch_id = ? AND result IS NOT NULL ORDER BY seq",
            (batch_id,),
        )
        return [ItemResult.from_json(row[0]) for row in rows]

    async def list_batches(self, *, limit: int = 20) -> list[BatchProgress]:
        rows = await self._run(
            self._all, "SELECT batch_id FROM batches ORDER BY created_at DESC LIMIT ?", (limit,)
        )
        found = [await self.progress(row[0]) for row in rows]
        return [progress for progress in found if progress is not None]

    def _one(self, sql: str, params: tuple[Any, ...]) -> Any:
        return self._db.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        return self._db.execute(sql, params).fetchall()


def _connect(path: Path | None) -> sqlite3.Connection:
    connection = sqlite3.connect(
        ":memory:" if path is None else str(path),
        isolation_level=None,
        check_same_thread=False,
        timeout=_BUSY_TIMEOUT_MS / 1000,
    )
    connection.isolation_level = "DEFERRED"
    connection.executescript(_SCHEMA)
    return connection
