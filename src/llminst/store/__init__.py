"""The call store: one durable record of every call and session (`CallStore`), and its backends.

`base.CallStore` is the interface every backend keeps; `memory.MemoryStore` holds records in
this process (tests, `--store memory`, and a library that asked for nothing on disk). Backends
never run a call or start a process; the supervisor's recorder writes to them, the server's job
tools and the command line read them.
"""

from __future__ import annotations

from .base import CallStore
from .memory import MemoryStore

__all__ = ["CallStore", "MemoryStore"]
