"""Whole-table statements of a SQLite store: interrupting the calls whose writer is gone,
purging old calls, clearing the response cache. Functions of a connection, run on the store's
worker thread (`SQLiteStore`).

What they must never do: interrupt a call whose writer still runs, or leave a purged call's
output or cancel request behind.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from .._core.records import CallState
from .sqlitefile import transaction

__all__ = ["clear_cache", "interrupt_running", "purge"]


def interrupt_running(
    db: sqlite3.Connection, now: float, writer_alive: Callable[[str], bool]
) -> int:
    rows = db.execute(
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
        with transaction(db):
            db.executemany(
                "UPDATE calls SET state = ?, finished_at = ? WHERE call_id = ?",
                [(CallState.INTERRUPTED.value, now, call_id) for call_id in orphans],
            )
    return len(orphans)


def clear_cache(db: sqlite3.Connection) -> int:
    with transaction(db):
        deleted = db.execute("DELETE FROM cache")
    return deleted.rowcount


def purge(db: sqlite3.Connection, before: float) -> int:
    with transaction(db):
        db.execute(
            "DELETE FROM output WHERE call_id IN (SELECT call_id FROM calls WHERE created_at < ?)",
            (before,),
        )
        db.execute(
            "DELETE FROM cancel_requests WHERE call_id IN "
            "(SELECT call_id FROM calls WHERE created_at < ?)",
            (before,),
        )
        deleted = db.execute("DELETE FROM calls WHERE created_at < ?", (before,))
    return deleted.rowcount
