"""`open_store`: the store a command or a library asks for by name, ready to record calls.

A spec is a path (``~`` expanded), ``"memory"`` (nothing on disk), a Redis URL
(``redis://HOST:PORT/DB``, ``redis+sentinel://``, ``redis+cluster://``, ``rediss...`` for TLS:
`redis.RedisStore`, shared by replicas), or None: the default file,
``llminst.sqlite3`` in the user data directory (``$XDG_DATA_HOME/llminst``, by default
``~/.local/share/llminst`` on Linux; ``~/Library/Application Support/llminst`` on macOS;
``%LOCALAPPDATA%\\llminst`` on Windows, as platformdirs says). Opening also tidies the store:
calls whose writing process is gone become ``interrupted`` (their partial output kept) and
calls older than the retention period are deleted.

What it must never do: recreate or overwrite a file that is not a usable store (it raises
`StoreUnusableError`, one line naming the path and the fix), or mark a call interrupted while
the process that runs it is alive.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import platformdirs
import trio

from ..logs import ensure_logging, get_logger
from .base import CallStore
from .memory import MemoryStore
from .redis.connection import RedisLocation, is_redis_url
from .sqlite import SQLiteStore

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "MEMORY",
    "default_store_path",
    "open_store",
    "store_label",
    "store_path",
]

MEMORY = "memory"
DEFAULT_RETENTION_DAYS = 30
_DAY_S = 86_400

_log = get_logger()


def default_store_path() -> Path:
    """The store file when none is named: ``<user data dir>/llminst/llminst.sqlite3``."""
    return Path(platformdirs.user_data_dir("llminst", appauthor=False)) / "llminst.sqlite3"


def store_path(spec: str | os.PathLike[str] | None) -> Path | None:
    """The file a spec names (None for ``"memory"`` and a Redis URL)."""
    if spec is None:
        return default_store_path()
    if os.fspath(spec) == MEMORY or is_redis_url(os.fspath(spec)):
        return None
    return Path(os.path.expanduser(os.fspath(spec)))


def store_label(spec: str | os.PathLike[str] | None) -> str:
    """The store a spec names, for messages: its file, its Redis server (never the
    password), or ``the memory store``."""
    if spec is not None and is_redis_url(os.fspath(spec)):
        return RedisLocation.parse(os.fspath(spec)).shown
    path = store_path(spec)
    return str(path) if path is not None else "the memory store"


async def _open_backend(spec: str | os.PathLike[str] | None) -> tuple[CallStore, str]:
    """The store a spec names, opened, and its label for the log."""
    if spec is not None and is_redis_url(os.fspath(spec)):
        from .redis import RedisStore

        redis_store = await RedisStore.open(os.fspath(spec))
        return redis_store, redis_store.location.shown
    path = store_path(spec)
    if path is None:
        return MemoryStore(), MEMORY
    return await SQLiteStore.open(path), str(path)


@asynccontextmanager
async def open_store(
    spec: str | os.PathLike[str] | None = None,
    *,
    retention_days: float = DEFAULT_RETENTION_DAYS,
) -> AsyncIterator[CallStore]:
    """Open the store `spec` names, mark orphaned calls interrupted, purge old ones.

    Args:
        spec: a file path, ``"memory"``, a ``redis://`` URL, or None for the default file.
        retention_days: calls created longer ago than this are deleted at open.

    Raises:
        StoreUnusableError: the file cannot be used (see `SQLiteStore.open`).
        StoreUnreachableError: the Redis server does not answer (see `RedisStore.open`).
        ConfigError: a bad Redis URL, or coredis is not installed.

    Cancellation: closing the store finishes its pending write first (shielded).
    """
    from ..supervisor.recorder import writer_alive  # the supervisor imports the store

    ensure_logging()  # its log line must never reach stdout (a stdio server's protocol)
    store, label = await _open_backend(spec)
    try:
        now = time.time()
        interrupted = await store.interrupt_running(now=now, writer_alive=writer_alive)
        purged = await store.purge(before=now - retention_days * _DAY_S)
        _log.info(
            "llminst.store.opened",
            path=label,
            interrupted=interrupted,
            purged=purged,
        )
        yield store
    finally:
        with trio.CancelScope(shield=True):
            await store.aclose()
