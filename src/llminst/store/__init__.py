"""The call store: one durable record of every call and session (`CallStore`), and its backends.

`base.CallStore` is the interface every backend keeps; `memory.MemoryStore` holds records in
this process (tests, `--store memory`, and a library that asked for nothing on disk);
`sqlite.SQLiteStore` keeps them in a SQLite file (the default of `llminst serve` and `run`);
`redis.RedisStore` keeps them in Redis, shared by replicas (``--store redis://...``);
`opening.open_store` opens the one a spec names. Backends never run a call or start a process;
the supervisor's recorder writes to them, the server's job tools and the command line read them.
"""

from __future__ import annotations

from .base import CallStore, StoreUnusableError
from .memory import MemoryStore
from .opening import (
    DEFAULT_RETENTION_DAYS,
    MEMORY,
    default_store_path,
    open_store,
    store_label,
    store_path,
)
from .sqlite import SQLiteStore

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "MEMORY",
    "CallStore",
    "MemoryStore",
    "SQLiteStore",
    "StoreUnusableError",
    "default_store_path",
    "open_store",
    "store_label",
    "store_path",
]
