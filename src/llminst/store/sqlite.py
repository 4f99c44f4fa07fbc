"""`SQLiteStore`: calls, their output, sessions, cooldowns and cached answers in one SQLite file
(stdlib `sqlite3`, WAL; the file, its schema and the worker thread are `sqlitefile`'s).

Every statement runs on the store's own worker thread, so the trio thread never waits on the
disk. Output is kept as chunks, each with its character range (``start``, ``end``), so a read
from offset N touches only the chunks it returns; the call's row keeps ``output_chars``. Several
processes may share the file (a ``llminst run`` while ``llminst serve`` runs): WAL lets readers
and one writer work at once, and a busy timeout waits out the other's write.

``synchronous=NORMAL`` with WAL: a commit does not wait for fsync; a power cut may lose the
last commits, never corrupt the file, and a killed process loses nothing it committed. That is
the trade the store wants: output streams at the CLI's pace, and the record is not a ledger.

A call learns whether a cooldown changed by a ``stat`` of the marker beside the file
(`cooldowns_version`), not a read queued on the worker thread behind the writes. What it must
never do: touch the file from the trio thread (but that ``stat``), or lose a count
of characters (lengths are Python's, never SQL's ``length()``, which stops at a NUL).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import attrs
import trio

from .._core.budget import ModelSpend, period
from .._core.cache import CachedAnswer
from .._core.cooldowns import CooldownRecord
from .._core.ledger import UsageRow, check_group_by, summarize
from .._core.records import CallRecord, CallState, SessionRecord
from . import sqlitefile, sqlitelocks, sqlitemaintenance
from .sqlitefile import SCHEMA_VERSION, connect, transaction
from .sqliterows import (
    CALL_FIELDS,
    LEDGER_SQL,
    PERIOD_SPEND_SQL,
    call_record,
    call_row,
    ledger_record,
    period_spends,
    session_record,
    session_row,
    storable,
    to_column,
)
from .sqliteworker import Pieces, WorkBatch, Worker, run_each

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

T = TypeVar("T")


class SQLiteStore:
    """A `CallStore` in a SQLite file; made by `open_sqlite` (or `llminst.store.open_store`).

    Args:
        connection: an open connection in autocommit mode, made by `connect`.
        path: the file, for messages.
    """

    def __init__(self, worker: Worker, connection: sqlite3.Connection, path: Path) -> None:
        self._worker = worker
        self._db = connection
        self.path = path
        self._batch: WorkBatch | None = None  # `write_batch` collecting its writes
        self._marker = sqlitefile.cooldowns_marker(path)

    @classmethod
    async def open(cls, path: Path) -> SQLiteStore:
        """Open (or create) the store at `path`, off the trio thread.

        Raises:
            StoreUnusableError: the path is a directory, the file is not an llminst store (or a
                newer one), or it cannot be created or written; one line naming the fix.
        """
        worker = Worker(f"llminst-store {path.name}")
        try:
            connection = await worker.run(connect, path)
        except BaseException:
            worker.stop()
            raise
        return cls(worker, connection, path)

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        batch = self._batch
        if batch is not None and batch.task is trio.lowlevel.current_task():
            if getattr(work, "__func__", None) in _BATCHED:
                batch.pieces.append((work, args))
                return cast(T, None)  # the write methods return nothing
            batch.hand_over()  # anything else runs after what came before it
        return await self._worker.run(work, *args)

    async def write_batch(
        self,
        writes: Sequence[Callable[[], Awaitable[None]]],
        failed: Callable[[Exception], None],
    ) -> None:
        """Hand `writes` (calls of this store's write methods) to the worker thread as one
        piece, without waiting for them (`WorkBatch`); `failed` hears of each that fails."""
        task = trio.lowlevel.current_task()
        self._batch = batch = WorkBatch(task, self._worker, failed, self._run_batch)
        try:
            await batch.run(writes)
        finally:
            self._batch = None

    async def written(self) -> None:
        """Wait until every write handed over so far is committed (a closed store: at once)."""
        if not self._worker.stopped:
            await self._worker.run(_nothing)

    # -- calls ---------------------------------------------------------------------------

    # The rows are built in the worker thread (`_add_call`, `_update_call`): the trio thread
    # only hands the record or the changes over.

    async def add_call(self, record: CallRecord) -> None:
        await self._run(self._add_call, record)

    async def update_call(self, call_id: str, **changes: Any) -> None:
        if not changes:
            return
        unknown = changes.keys() - _CALL_FIELD_SET
        if unknown:
            raise TypeError(f"CallRecord has no field(s) {', '.join(sorted(unknown))}")
        await self._run(self._update_call, call_id, changes)

    async def append_output(self, call_id: str, text: str) -> None:
        if text:
            await self._run(self._append, call_id, text)

    async def reset_output(self, call_id: str) -> None:
        await self._run(
            self._write,
            [
                ("DELETE FROM output WHERE call_id = ?", (call_id,)),
                ("UPDATE calls SET output_chars = 0 WHERE call_id = ?", (call_id,)),
            ],
        )

    async def get_call(self, call_id: str) -> CallRecord | None:
        rows = await self._run(self._read, "SELECT * FROM calls WHERE call_id = ?", (call_id,))
        return call_record(rows[0]) if rows else None

    async def read_output(self, call_id: str, offset: int = 0, limit: int | None = None) -> str:
        if offset < 0:
            raise ValueError("offset must be >= 0")
        if limit is not None and limit <= 0:
            return ""
        return await self._run(self._read_output, call_id, offset, limit)

    async def list_calls(
        self,
        *,
        states: Sequence[CallState] | None = None,
        model: str | None = None,
        owner: str | None = None,
        limit: int = 20,
    ) -> list[CallRecord]:
        where: list[str] = []
        params: list[Any] = []
        if states is not None:
            where.append(f"state IN ({', '.join('?' for _ in states)})")
            params += [CallState(s).value for s in states]
        if model is not None:
            where.append("model = ?")
            params.append(model)
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT * FROM calls{clause} ORDER BY created_at DESC LIMIT ?"
        rows = await self._run(self._read, sql, (*params, max(limit, 0)))
        return [call_record(row) for row in rows]

    async def interrupt_running(self, *, now: float, writer_alive: Callable[[str], bool]) -> int:
        return await self._run(sqlitemaintenance.interrupt_running, self._db, now, writer_alive)

    async def purge(self, *, before: float) -> int:
        return await self._run(sqlitemaintenance.purge, self._db, before)

    # -- sessions ------------------------------------------------------------------------

    async def get_session(self, name: str) -> SessionRecord | None:
        rows = await self._run(self._read, "SELECT * FROM sessions WHERE name = ?", (name,))
        return session_record(rows[0]) if rows else None

    async def put_session(self, record: SessionRecord) -> None:
        row = session_row(record)
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        sql = f"INSERT OR REPLACE INTO sessions ({columns}) VALUES ({marks})"
        await self._run(self._write, [(sql, tuple(row.values()))])

    async def list_sessions(
        self, *, owner: str | None = None, limit: int = 50
    ) -> list[SessionRecord]:
        clause, params = (" WHERE owner = ?", (owner,)) if owner is not None else ("", ())
        sql = f"SELECT * FROM sessions{clause} ORDER BY updated_at DESC LIMIT ?"
        rows = await self._run(self._read, sql, (*params, max(limit, 0)))
        return [session_record(row) for row in rows]

    # -- cooldowns -----------------------------------------------------------------------

    async def get_cooldowns(self) -> list[CooldownRecord]:
        rows = await self._run(self._read, "SELECT * FROM cooldowns", ())
        return [CooldownRecord(**dict(row)) for row in rows]

    async def put_cooldown(self, record: CooldownRecord) -> None:
        row = attrs.asdict(record)
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        sql = f"INSERT OR REPLACE INTO cooldowns ({columns}) VALUES ({marks})"
        await self._run(self._write, [(sql, tuple(row.values()))])
        await self._run(sqlitefile.mark, self._marker)  # after the commit: it vouches for it

    def cooldowns_version(self) -> Hashable:
        """Changes whenever a process changes a cooldown in this file (`marker_state`)."""
        return sqlitefile.marker_state(self._marker)

    # -- the response cache and the ledger ----------------------------------------------

    async def get_cached(self, key: str, *, now: float) -> CachedAnswer | None:
        sql = "SELECT * FROM cache WHERE key = ? AND expires_at > ?"
        rows = await self._run(self._read, sql, (key, now))
        if not rows:
            return None
        values = dict(rows[0])
        values["result"] = json.loads(values["result"])
        return CachedAnswer(**values)

    async def put_cached(self, answer: CachedAnswer) -> None:
        row = attrs.asdict(answer)
        row["result"] = json.dumps(row["result"], ensure_ascii=False, default=str)
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        statements = [
            # Expired answers go as new ones come, so the table holds only live ones.
            ("DELETE FROM cache WHERE expires_at <= ?", (answer.created_at,)),
            (f"INSERT OR REPLACE INTO cache ({columns}) VALUES ({marks})", tuple(row.values())),
        ]
        await self._run(self._write, statements)

    async def clear_cache(self) -> int:
        return await self._run(sqlitemaintenance.clear_cache, self._db)

    async def usage_summary(
        self, *, since: float | None = None, group_by: str = "model"
    ) -> list[UsageRow]:
        check_group_by(group_by)
        params = (
            CallState.QUEUED.value,
            CallState.RUNNING.value,
            -1e300 if since is None else since,
        )
        rows = await self._run(self._read, LEDGER_SQL, params)
        return summarize((ledger_record(row) for row in rows), group_by=group_by)

    async def period_spend(self, kind: str, *, start: float) -> list[ModelSpend]:
        # Summed in SQL over the period's rows (the created_at index): no record reaches
        # Python (benchmarks/results/budget_check.md has what it costs per check).
        start, end = period(kind, start)
        params = (CallState.QUEUED.value, CallState.RUNNING.value, start, end)
        rows = await self._run(self._read, PERIOD_SPEND_SQL, params)
        return period_spends(rows)

    # -- cancel requests -----------------------------------------------------------------

    async def request_cancel(self, call_id: str, *, now: float) -> None:
        sql = "INSERT OR IGNORE INTO cancel_requests (call_id, requested_at) VALUES (?, ?)"
        await self._run(self._write, [(sql, (call_id, now))])

    async def cancel_requested(self, call_ids: Sequence[str]) -> list[str]:
        if not call_ids:
            return []
        marks = ", ".join("?" for _ in call_ids)
        sql = f"SELECT call_id FROM cancel_requests WHERE call_id IN ({marks})"
        rows = await self._run(self._read, sql, tuple(call_ids))
        return [str(row[0]) for row in rows]

    # -- budget reservations -------------------------------------------------------------

    async def reserve_spend(
        self, key: str, *, amount: float, cap: float, now: float, ttl_s: float
    ) -> bool:
        return await self._run(sqlitelocks.reserve_spend, self._db, key, amount, cap, now, ttl_s)

    async def release_spend(self, key: str, *, amount: float) -> None:
        sql = "UPDATE spend_holds SET held = max(held - ?, 0) WHERE key = ?"
        await self._run(self._write, [(sql, (amount, key))])

    # -- session locks (`sqlitelocks`) ---------------------------------------------------

    async def acquire_session_lock(
        self, name: str, holder: str, *, lease_s: float, now: float
    ) -> str:
        return await self._run(sqlitelocks.acquire, self._db, name, holder, lease_s, now)

    async def renew_session_lock(
        self, name: str, holder: str, *, lease_s: float, now: float
    ) -> bool:
        return await self._run(sqlitelocks.renew, self._db, name, holder, lease_s, now)

    async def release_session_lock(self, name: str, holder: str) -> None:
        await self._run(sqlitelocks.release, self._db, name, holder)

    async def aclose(self) -> None:
        if self._worker.stopped:
            return
        try:
            await self._run(self._db.close)
        finally:
            self._worker.stop()

    # -- in the worker thread ------------------------------------------------------------

    def _run_batch(self, pieces: Pieces) -> list[Exception]:
        """A batch in one transaction (one commit); if any piece fails, the batch is undone
        and its pieces run again each in its own, so the others are kept."""
        try:
            with transaction(self._db):  # the pieces' own transactions join this one
                for work, args in pieces:
                    work(*args)
        except Exception:
            return run_each(pieces)
        return []

    def _write(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        with transaction(self._db):
            for sql, params in statements:
                self._db.execute(sql, params)

    def _add_call(self, record: CallRecord) -> None:
        row = call_row(record)
        row["output_chars"] = 0
        marks = ", ".join("?" for _ in row)
        sql = f"INSERT OR REPLACE INTO calls ({', '.join(row)}) VALUES ({marks})"
        self._write([(sql, tuple(row.values()))])

    def _update_call(self, call_id: str, changes: dict[str, Any]) -> None:
        row = {name: to_column(name, value) for name, value in changes.items()}
        assignments = ", ".join(f"{name} = ?" for name in row)
        self._write(
            [(f"UPDATE calls SET {assignments} WHERE call_id = ?", (*row.values(), call_id))]
        )

    def _read(self, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
        return self._db.execute(sql, params).fetchall()

    def _append(self, call_id: str, text: str) -> None:
        text = storable(text)
        with transaction(self._db):
            found = self._db.execute(
                "SELECT output_chars FROM calls WHERE call_id = ?", (call_id,)
            ).fetchone()
            if found is None:
                return
            start = int(found[0])
            end = start + len(text)
            self._db.execute(
                'INSERT INTO output (call_id, seq, start, "end", text) VALUES (?, '
                "(SELECT coalesce(max(seq), 0) + 1 FROM output WHERE call_id = ?), ?, ?, ?)",
                (call_id, call_id, start, end, text),
            )
            self._db.execute("UPDATE calls SET output_chars = ? WHERE call_id = ?", (end, call_id))

    def _read_output(self, call_id: str, offset: int, limit: int | None) -> str:
        stop = None if limit is None else offset + limit
        sql = 'SELECT start, text FROM output WHERE call_id = ? AND "end" > ?'
        params: list[Any] = [call_id, offset]
        if stop is not None:
            sql += " AND start < ?"
            params.append(stop)
        rows = self._db.execute(sql + " ORDER BY seq", params).fetchall()
        if not rows:
            return ""
        first_start = int(rows[0][0])
        text = "".join(row[1] for row in rows)
        begin = offset - first_start
        return text[begin:] if stop is None else text[begin : stop - first_start]


def _nothing() -> None:
    """A piece of work that only marks its place in the worker's queue (`written`)."""


# The worker-side writes a `write_batch` collects instead of running them one trip each.
_BATCHED = (
    SQLiteStore._write,
    SQLiteStore._append,
    SQLiteStore._add_call,
    SQLiteStore._update_call,
)
_CALL_FIELD_SET = frozenset(CALL_FIELDS)
