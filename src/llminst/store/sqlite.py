"""`SQLiteStore`: calls, their output, sessions, cooldowns and cached answers in one SQLite file
(stdlib `sqlite3`, WAL).

One connection, used only by the store's own worker thread (`_Worker`: a queue in, a trio
reschedule out), so the trio thread never waits on the disk. A dedicated thread costs ~70 µs a
round trip against ~120 µs for `trio.to_thread.run_sync` (measured on 2 busy cores), and a call
makes four or more writes. Output is kept as chunks, each
with its character range (``start``, ``end``), so a read from offset N touches only the chunks it
returns; the call's row keeps ``output_chars``. Several processes may share the file (a
``llminst run`` while ``llminst serve`` runs): WAL lets readers and one writer work at once, and
a busy timeout waits out the other's write.

``synchronous=NORMAL`` with WAL: a commit does not wait for fsync; a power cut may lose the
last commits, never corrupt the file, and a killed process loses nothing it committed. That is
the trade the store wants: output streams at the CLI's pace, and the record is not a ledger.

What it must never do: touch the file from the trio thread, silently recreate a file that is
not an llminst store, or lose a count of characters (lengths are Python's, never SQL's
``length()``, which stops at a NUL).
"""

from __future__ import annotations

import contextlib
import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import attrs
import outcome
import trio

from .._core.cache import CachedAnswer
from .._core.cooldowns import CooldownRecord
from .._core.ledger import UsageRow, check_group_by, summarize
from .._core.records import CallOrigin, CallRecord, CallState, SessionRecord, Turn
from .base import StoreUnusableError

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

T = TypeVar("T")

SCHEMA_VERSION = 1
# "llmi" in ASCII: marks a SQLite file as an llminst store (PRAGMA application_id).
APPLICATION_ID = 0x6C6C6D69
BUSY_TIMEOUT_MS = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    state TEXT NOT NULL,
    origin TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    attempts INTEGER NOT NULL,
    exit_code INTEGER,
    error_kind TEXT,
    error TEXT,
    usage TEXT,
    cost_usd REAL,
    cli_session_id TEXT,
    session TEXT,
    cwd TEXT,
    prompt TEXT,
    owner TEXT,
    writer TEXT,
    output_chars INTEGER NOT NULL,
    result TEXT
);
CREATE INDEX IF NOT EXISTS calls_created ON calls (created_at);
CREATE INDEX IF NOT EXISTS calls_state ON calls (state, created_at);
CREATE INDEX IF NOT EXISTS calls_model ON calls (model, created_at);
CREATE INDEX IF NOT EXISTS calls_owner ON calls (owner, created_at);
CREATE TABLE IF NOT EXISTS output (
    call_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
);
CREATE INDEX IF NOT EXISTS output_range ON output (call_id, "end");
CREATE TABLE IF NOT EXISTS sessions (
    name TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    cli_session_id TEXT,
    cli_model TEXT,
    turns TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    owner TEXT
);
CREATE INDEX IF NOT EXISTS sessions_updated ON sessions (updated_at);
CREATE TABLE IF NOT EXISTS cooldowns (
    account TEXT PRIMARY KEY,
    until REAL NOT NULL,
    reason TEXT NOT NULL,
    model TEXT NOT NULL,
    strikes INTEGER NOT NULL DEFAULT 0,
    set_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cache (
    key TEXT PRIMARY KEY,
    call_id TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS cache_expires ON cache (expires_at);
CREATE TABLE IF NOT EXISTS spend_holds (
    key TEXT PRIMARY KEY,
    held REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cancel_requests (
    call_id TEXT PRIMARY KEY,
    requested_at REAL NOT NULL
);
"""

# The ledger reads only what it sums: the ended calls since a time, with the three fields of
# their result it needs (the model that answered, a cache hit, the duration).
_LEDGER_SQL = """
SELECT call_id, model, state, created_at, attempts, usage, cost_usd, session,
       json_object(
           'model', json_extract(result, '$.model'),
           'cached', json_extract(result, '$.cached'),
           'duration_s', json_extract(result, '$.duration_s')
       ) AS result
FROM calls
WHERE state NOT IN (?, ?) AND created_at >= ?
"""

_CALL_FIELDS = tuple(a.name for a in attrs.fields(CallRecord))
_JSON_FIELDS = frozenset({"usage", "result"})
_SESSION_FIELDS = tuple(a.name for a in attrs.fields(SessionRecord))


class SQLiteStore:
    """A `CallStore` in a SQLite file; made by `open_sqlite` (or `llminst.store.open_store`).

    Args:
        connection: an open connection in autocommit mode, made by `connect`.
        path: the file, for messages.
    """

    def __init__(self, worker: _Worker, connection: sqlite3.Connection, path: Path) -> None:
        self._worker = worker
        self._db = connection
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> SQLiteStore:
        """Open (or create) the store at `path`, off the trio thread.

        Raises:
            StoreUnusableError: the path is a directory, the file is not an llminst store (or a
                newer one), or it cannot be created or written; one line naming the fix.
        """
        worker = _Worker(f"llminst-store {path.name}")
        try:
            connection = await worker.run(connect, path)
        except BaseException:
            worker.stop()
            raise
        return cls(worker, connection, path)

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        return await self._worker.run(work, *args)

    # -- calls ---------------------------------------------------------------------------

    async def add_call(self, record: CallRecord) -> None:
        row = _call_row(record.evolve(output_chars=0))
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        sql = f"INSERT OR REPLACE INTO calls ({columns}) VALUES ({marks})"
        await self._run(self._write, [(sql, tuple(row.values()))])

    async def update_call(self, call_id: str, **changes: Any) -> None:
        if not changes:
            return
        unknown = set(changes) - set(_CALL_FIELDS)
        if unknown:
            raise TypeError(f"CallRecord has no field(s) {', '.join(sorted(unknown))}")
        row = {name: _to_column(name, value) for name, value in changes.items()}
        assignments = ", ".join(f"{name} = ?" for name in row)
        sql = f"UPDATE calls SET {assignments} WHERE call_id = ?"
        await self._run(self._write, [(sql, (*row.values(), call_id))])

    async def append_output(self, call_id: str, text: str) -> None:
        if text:
            await self._run(self._append, call_id, _storable(text))

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
        return _call_record(rows[0]) if rows else None

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
        return [_call_record(row) for row in rows]

    async def interrupt_running(self, *, now: float, writer_alive: Callable[[str], bool]) -> int:
        return await self._run(self._interrupt_running, now, writer_alive)

    async def purge(self, *, before: float) -> int:
        return await self._run(self._purge, before)

    # -- sessions ------------------------------------------------------------------------

    async def get_session(self, name: str) -> SessionRecord | None:
        rows = await self._run(self._read, "SELECT * FROM sessions WHERE name = ?", (name,))
        return _session_record(rows[0]) if rows else None

    async def put_session(self, record: SessionRecord) -> None:
        row = _session_row(record)
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
        return [_session_record(row) for row in rows]

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
        return await self._run(self._clear_cache)

    async def usage_summary(
        self, *, since: float | None = None, group_by: str = "model"
    ) -> list[UsageRow]:
        check_group_by(group_by)
        params = (
            CallState.QUEUED.value,
            CallState.RUNNING.value,
            -1e300 if since is None else since,
        )
        rows = await self._run(self._read, _LEDGER_SQL, params)
        return summarize((_ledger_record(row) for row in rows), group_by=group_by)

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
        return await self._run(self._reserve_spend, key, amount, cap, now, ttl_s)

    async def release_spend(self, key: str, *, amount: float) -> None:
        sql = "UPDATE spend_holds SET held = max(held - ?, 0) WHERE key = ?"
        await self._run(self._write, [(sql, (amount, key))])

    async def aclose(self) -> None:
        if self._worker.stopped:
            return
        try:
            await self._run(self._db.close)
        finally:
            self._worker.stop()

    # -- in the worker thread ------------------------------------------------------------

    def _write(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        with _transaction(self._db):
            for sql, params in statements:
                self._db.execute(sql, params)

    def _read(self, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
        return self._db.execute(sql, params).fetchall()

    def _append(self, call_id: str, text: str) -> None:
        with _transaction(self._db):
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

    def _interrupt_running(self, now: float, writer_alive: Callable[[str], bool]) -> int:
        rows = self._db.execute(
            "SELECT call_id, writer FROM calls WHERE state IN (?, ?)",
            (CallState.QUEUED.value, CallState.RUNNING.value),
        ).fetchall()
        alive: dict[str, bool] = {}
        orphans = []
        for call_id, writer in rows:
            if writer is not None and writer not in alive:
                alive[writer] = writer_alive(writer)
            if writer is None or not alive[writer]:
                orphans.append(call_id)
        if orphans:
            with _transaction(self._db):
                self._db.executemany(
                    "UPDATE calls SET state = ?, finished_at = ? WHERE call_id = ?",
                    [(CallState.INTERRUPTED.value, now, call_id) for call_id in orphans],
                )
        return len(orphans)

    def _reserve_spend(self, key: str, amount: float, cap: float, now: float, ttl: float) -> bool:
        # BEGIN IMMEDIATE takes the write lock first: another process's reservation waits.
        with _transaction(self._db):
            found = self._db.execute(
                "SELECT held, expires_at FROM spend_holds WHERE key = ?", (key,)
            ).fetchone()
            held = float(found[0]) if found is not None and found[1] > now else 0.0
            if held >= cap:
                return False
            self._db.execute(
                "INSERT OR REPLACE INTO spend_holds (key, held, expires_at) VALUES (?, ?, ?)",
                (key, held + amount, now + ttl),
            )
        return True

    def _clear_cache(self) -> int:
        with _transaction(self._db):
            deleted = self._db.execute("DELETE FROM cache")
        return deleted.rowcount

    def _purge(self, before: float) -> int:
        with _transaction(self._db):
            self._db.execute(
                "DELETE FROM output WHERE call_id IN "
                "(SELECT call_id FROM calls WHERE created_at < ?)",
                (before,),
            )
            self._db.execute(
                "DELETE FROM cancel_requests WHERE call_id IN "
                "(SELECT call_id FROM calls WHERE created_at < ?)",
                (before,),
            )
            deleted = self._db.execute("DELETE FROM calls WHERE created_at < ?", (before,))
        return deleted.rowcount


class _Worker:
    """One thread that runs the store's blocking work, one piece at a time, in order.

    `run` waits for its piece without giving up on it: a write the caller stops waiting for
    would still happen, so the wait is not cancellable (as `trio.to_thread.run_sync`'s).
    """

    def __init__(self, name: str) -> None:
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stopped = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        if self._stopped:
            raise trio.ClosedResourceError("the store is closed")
        task = trio.lowlevel.current_task()
        token = trio.lowlevel.current_trio_token()

        def report(result: outcome.Outcome[T]) -> None:
            token.run_sync_soon(trio.lowlevel.reschedule, task, result)

        self._inbox.put((work, args, report))
        value: T = await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.FAILED)
        return value

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        self._stopped = True
        self._inbox.put(None)

    def _serve(self) -> None:
        while (item := self._inbox.get()) is not None:
            work, args, report = item
            result = outcome.capture(work, *args)
            # The caller's trio run may be gone (nobody to tell).
            with contextlib.suppress(trio.RunFinishedError):
                report(result)


class _transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on an autocommit connection:
    IMMEDIATE takes the write lock at once, so a busy file is waited out at the start."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if kind is not None else "COMMIT")


# -- opening ---------------------------------------------------------------------------------


def connect(path: Path) -> sqlite3.Connection:
    """Open the file, check it is an llminst store (creating the schema in a new one), WAL.

    Blocking: call it off the trio thread.

    Raises:
        StoreUnusableError: see `SQLiteStore.open`.
    """
    if path.is_dir():
        raise StoreUnusableError(
            path, "is a directory", f"pass a file path, e.g. --store {path / 'llminst.sqlite3'}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = (
            "a file is in the way"
            if isinstance(exc, FileExistsError | NotADirectoryError)
            else exc.strerror or str(exc)
        )
        raise StoreUnusableError(
            path,
            f"cannot be created: its directory {path.parent} cannot be made ({why})",
            "pass a writable --store PATH (or [store] path) or --store memory",
        ) from None
    try:
        db = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
    except sqlite3.Error as exc:
        raise _unwritable(path, exc) from None
    try:
        _prepare(db, path)
    except BaseException:
        db.close()
        raise
    return db


def _prepare(db: sqlite3.Connection, path: Path) -> None:
    db.row_factory = sqlite3.Row
    try:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _check_identity(path, *_identify(db))  # before WAL changes a foreign file's header
    except sqlite3.DatabaseError as exc:
        if _is_not_a_database(exc):
            raise StoreUnusableError(
                path,
                f"is not a SQLite database ({exc})",
                "move it aside or pass --store memory",
            ) from None
        raise _unwritable(path, exc) from None
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        # Under the write lock, look again: another process may have created the schema since
        # (two starts on a new file). Writing here also proves the file is writable now
        # rather than at the first call.
        with _transaction(db):
            application_id, version, tables = _identify(db)
            _check_identity(path, application_id, version, tables)
            # Every statement is IF NOT EXISTS: a store an earlier llminst of this schema
            # made gains the tables added since.
            _create_schema(db)
    except sqlite3.Error as exc:
        raise _unwritable(path, exc) from None


def _check_identity(path: Path, application_id: int, version: int, tables: int) -> None:
    if application_id != APPLICATION_ID and (application_id != 0 or tables):
        raise StoreUnusableError(
            path,
            "is a SQLite database but not an llminst store",
            "pass another --store path (or [store] path) or --store memory",
        )
    if version > SCHEMA_VERSION:
        raise StoreUnusableError(
            path,
            f"was written by a newer llminst (schema {version}; this one reads {SCHEMA_VERSION})",
            "upgrade llminst, or pass another --store path or --store memory",
        )


def _identify(db: sqlite3.Connection) -> tuple[int, int, int]:
    """The file's application id, schema version and table count, read from one snapshot (a
    start creating the schema meanwhile must not show tables without the id)."""
    own = not db.in_transaction
    if own:
        db.execute("BEGIN")
    try:
        application_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    finally:
        if own:
            db.execute("COMMIT")
    return int(application_id), int(version), int(tables)


def _create_schema(db: sqlite3.Connection) -> None:
    """Create the tables (inside the caller's transaction) and mark the file as ours."""
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _is_not_a_database(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT) or "not a database" in str(exc)


def _unwritable(path: Path, exc: Exception) -> StoreUnusableError:
    return StoreUnusableError(
        path,
        f"cannot be opened for writing ({exc})",
        "make it and its directory writable, or pass another --store path or --store memory",
    )


# -- rows <-> records ------------------------------------------------------------------------


def _to_column(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _JSON_FIELDS:
        return json.dumps(value, ensure_ascii=False, default=str)
    if name in ("state", "origin"):
        return str(value.value if hasattr(value, "value") else value)
    if name == "prompt" and isinstance(value, str):
        return _storable(value)
    return value


def _call_row(record: CallRecord) -> dict[str, Any]:
    return {name: _to_column(name, getattr(record, name)) for name in _CALL_FIELDS}


def _call_record(row: sqlite3.Row) -> CallRecord:
    values = {name: row[name] for name in _CALL_FIELDS}
    for name in _JSON_FIELDS:
        if values[name] is not None:
            values[name] = json.loads(values[name])
    values["state"] = CallState(values["state"])
    values["origin"] = CallOrigin(values["origin"])
    return CallRecord(**values)


def _ledger_record(row: sqlite3.Row) -> CallRecord:
    """A call as the ledger needs it, from a `_LEDGER_SQL` row."""
    return CallRecord(
        call_id=row["call_id"],
        model=row["model"],
        state=CallState(row["state"]),
        created_at=row["created_at"],
        attempts=row["attempts"],
        usage=json.loads(row["usage"]) if row["usage"] is not None else None,
        cost_usd=row["cost_usd"],
        session=row["session"],
        result=json.loads(row["result"]),
    )


def _session_row(record: SessionRecord) -> dict[str, Any]:
    row = {name: getattr(record, name) for name in _SESSION_FIELDS}
    row["turns"] = json.dumps([attrs.asdict(turn) for turn in record.turns], ensure_ascii=False)
    return row


def _session_record(row: sqlite3.Row) -> SessionRecord:
    values = {name: row[name] for name in _SESSION_FIELDS}
    values["turns"] = tuple(Turn(**turn) for turn in json.loads(values["turns"]))
    return SessionRecord(**values)


def _storable(text: str) -> str:
    """`text` as SQLite can keep it: a lone surrogate (not UTF-8) becomes '?', one for one, so
    character counts stay those of the text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text
