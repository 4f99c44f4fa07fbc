"""One SQLite file as an llminst store: its schema, identity and version, the connection's
settings (WAL, busy timeout, ``synchronous=NORMAL``); `sqliteworker` owns the thread that alone
uses the connection.

`connect` opens or creates the file and checks it is an llminst store of a version this code reads
(``PRAGMA application_id`` and ``user_version``); tables missing from an older file are created
(``CREATE ... IF NOT EXISTS``) and columns missing from its tables added (`_ADDED_COLUMNS`, ``ALTER
TABLE ... ADD COLUMN``). Beside the file, a marker (`cooldowns_marker`) grows a byte with
each cooldown written, so a ``stat`` tells whether any process changed one.

What it must never do: silently recreate or overwrite a file that is not a usable llminst store
(it raises `StoreUnusableError`, naming the path and the fix), or touch the connection from
another thread than the worker's.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Hashable
from pathlib import Path

from .base import StoreUnusableError

__all__ = [
    "APPLICATION_ID",
    "BUSY_TIMEOUT_MS",
    "SCHEMA_VERSION",
    "connect",
    "cooldowns_marker",
    "mark",
    "marker_state",
    "transaction",
    "unwritable",
]


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
    cli_host TEXT,
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
CREATE TABLE IF NOT EXISTS session_locks (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""

# Columns added to a table after schema 1 first shipped: (table, column, its declaration). A
# file made before has the table without them; `_create_schema` adds each one it lacks, so an
# old file opens as it is and gains them (the values of its existing rows: NULL).
_ADDED_COLUMNS = (("sessions", "cli_host", "TEXT"),)


class transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on an autocommit connection:
    IMMEDIATE takes the write lock at once, so a busy file is waited out at the start. Inside
    a transaction already open (a batch of writes, `SQLiteStore._run_batch`), it joins that
    one: an error goes up to it, which undoes the whole."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._joined = False

    def __enter__(self) -> None:
        self._joined = self._db.in_transaction
        if not self._joined:
            self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        if not self._joined:
            self._db.execute("ROLLBACK" if kind is not None else "COMMIT")


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
        raise unwritable(path, exc) from None
    try:
        prepare(db, path)
    except BaseException:
        db.close()
        raise
    return db


def prepare(db: sqlite3.Connection, path: Path) -> None:
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
        raise unwritable(path, exc) from None
    try:
        _switch_to_wal(db)
        db.execute("PRAGMA synchronous = NORMAL")
        # Under the write lock, look again: another process may have created the schema since
        # (two starts on a new file). Writing here also proves the file is writable now
        # rather than at the first call.
        with transaction(db):
            application_id, version, tables = _identify(db)
            _check_identity(path, application_id, version, tables)
            # Every statement is IF NOT EXISTS and every added column checked first: a store
            # an earlier llminst of this schema made gains the tables and columns added since.
            _create_schema(db)
    except sqlite3.Error as exc:
        raise unwritable(path, exc) from None


def _switch_to_wal(db: sqlite3.Connection) -> None:
    """``PRAGMA journal_mode = WAL``, tried again while another start on a new file holds it
    (SQLite refuses the switch at once there, "database is locked", whatever the busy timeout)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)  # blocking: this runs on the store's own thread


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
    for table, column, declaration in _ADDED_COLUMNS:
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _is_not_a_database(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT) or "not a database" in str(exc)


def unwritable(path: Path, exc: Exception) -> StoreUnusableError:
    return StoreUnusableError(
        path,
        f"cannot be opened for writing ({exc})",
        "make it and its directory writable, or pass another --store path or --store memory",
    )


def cooldowns_marker(path: Path) -> Path:
    """The file beside a store whose state changes with each cooldown written to it."""
    return path.with_name(path.name + "-cooldowns")


def mark(marker: Path) -> None:
    """In the worker thread, after a cooldown's commit: one byte more in `marker`."""
    with open(marker, "ab") as file:
        file.write(b"\n")


def marker_state(marker: Path) -> Hashable:
    """What tells one state of `marker` from the next (its size only grows): a stat."""
    try:
        found = os.stat(marker)
    except OSError:
        return None
    return (found.st_ino, found.st_size, found.st_mtime_ns)
