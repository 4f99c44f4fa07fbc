"""Leases in a SQLite store: session locks (the ``session_locks`` table, one row per held lock:
its holder and when its lease runs out) and budget reservations (``spend_holds``), each read and
written in one ``BEGIN IMMEDIATE`` transaction, so two processes on one file cannot both take a
lock or the last of a budget (the second waits for the first's write lock, then sees its row).

Functions of a connection, run on the store's worker thread (`SQLiteStore`). What they must
never do: take a lock another holder holds unexpired, or free a lock `holder` does not hold.
"""

from __future__ import annotations

import sqlite3

from .sqlitefile import transaction

__all__ = ["acquire", "release", "renew", "reserve_spend"]


def acquire(db: sqlite3.Connection, name: str, holder: str, lease_s: float, now: float) -> str:
    """`CallStore.acquire_session_lock` in `db`: the holder of the lock afterwards."""
    with transaction(db):
        found = db.execute(
            "SELECT holder, expires_at FROM session_locks WHERE name = ?", (name,)
        ).fetchone()
        if found is not None and found[0] != holder and found[1] > now:
            return str(found[0])
        db.execute(
            "INSERT OR REPLACE INTO session_locks (name, holder, expires_at) VALUES (?, ?, ?)",
            (name, holder, now + lease_s),
        )
    return holder


def renew(db: sqlite3.Connection, name: str, holder: str, lease_s: float, now: float) -> bool:
    """`CallStore.renew_session_lock` in `db`: whether `holder` still held it."""
    with transaction(db):
        renewed = db.execute(
            "UPDATE session_locks SET expires_at = ? WHERE name = ? AND holder = ? "
            "AND expires_at > ?",
            (now + lease_s, name, holder, now),
        )
    return renewed.rowcount == 1


def release(db: sqlite3.Connection, name: str, holder: str) -> None:
    """`CallStore.release_session_lock` in `db`."""
    with transaction(db):
        db.execute("DELETE FROM session_locks WHERE name = ? AND holder = ?", (name, holder))


def reserve_spend(
    db: sqlite3.Connection, key: str, amount: float, cap: float, now: float, ttl: float
) -> bool:
    """`CallStore.reserve_spend` in `db`: whether `amount` more of budget `key` is now held."""
    with transaction(db):
        found = db.execute(
            "SELECT held, expires_at FROM spend_holds WHERE key = ?", (key,)
        ).fetchone()
        held = float(found[0]) if found is not None and found[1] > now else 0.0
        if held >= cap:
            return False
        db.execute(
            "INSERT OR REPLACE INTO spend_holds (key, held, expires_at) VALUES (?, ?, ?)",
            (key, held + amount, now + ttl),
        )
    return True
