"""`UnreachableStore`: the in-memory store behind a switch that makes every write raise
ConnectionError, as a client whose server (Redis) went away does; reads still work."""

from __future__ import annotations

from typing import Any

from llminst.store import MemoryStore

__all__ = ["UnreachableStore"]


class UnreachableStore(MemoryStore):
    """A MemoryStore whose writes fail while `down` (reads work: they are not what is tested)."""

    down = False
    failures = 0

    def _check(self) -> None:
        if self.down:
            self.failures += 1
            raise ConnectionError("Unable to establish a connection to 127.0.0.1:6379")

    async def add_call(self, record: Any) -> None:
        self._check()
        await super().add_call(record)

    async def update_call(self, call_id: str, **changes: Any) -> None:
        self._check()
        await super().update_call(call_id, **changes)

    async def append_output(self, call_id: str, text: str) -> None:
        self._check()
        await super().append_output(call_id, text)

    async def reset_output(self, call_id: str) -> None:
        self._check()
        await super().reset_output(call_id)
