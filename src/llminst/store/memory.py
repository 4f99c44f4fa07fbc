"""`MemoryStore`: calls, output, sessions and cooldowns kept in this process only.

Used by tests, by ``--store memory`` (nothing on disk), and by a library that passes no store.
It keeps at most `max_calls` calls and `max_output_chars` characters of output in all (the oldest
finished calls are dropped first), so a long-lived process does not grow without bound. What it must never do: block, or touch a file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .._core.cooldowns import CooldownRecord
from .._core.records import CallRecord, CallState, SessionRecord

__all__ = ["MemoryStore"]


class MemoryStore:
    """A `CallStore` in memory."""

    def __init__(self, *, max_calls: int = 1000, max_output_chars: int = 64 * 1024 * 1024) -> None:
        self._calls: dict[str, CallRecord] = {}
        self._output: dict[str, list[str]] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self._cooldowns: dict[str, CooldownRecord] = {}
        self._cancels: dict[str, float] = {}  # call id -> when its cancel was asked for
        self._max_calls = max_calls
        self._max_output_chars = max_output_chars
        self._output_chars = 0

    async def add_call(self, record: CallRecord) -> None:
        self._calls[record.call_id] = record.evolve(output_chars=0)
        self._output[record.call_id] = []
        self._forget_oldest()

    async def update_call(self, call_id: str, **changes: Any) -> None:
        record = self._calls.get(call_id)
        if record is not None:
            self._calls[call_id] = record.evolve(**changes)

    async def append_output(self, call_id: str, text: str) -> None:
        record = self._calls.get(call_id)
        if record is None or not text:
            return
        self._output[call_id].append(text)
        self._calls[call_id] = record.evolve(output_chars=record.output_chars + len(text))
        self._output_chars += len(text)
        if self._output_chars > self._max_output_chars:
            self._forget_oldest()

    async def reset_output(self, call_id: str) -> None:
        record = self._calls.get(call_id)
        if record is not None:
            self._output[call_id] = []
            self._output_chars -= record.output_chars
            self._calls[call_id] = record.evolve(output_chars=0)

    async def get_call(self, call_id: str) -> CallRecord | None:
        return self._calls.get(call_id)

    async def read_output(self, call_id: str, offset: int = 0, limit: int | None = None) -> str:
        pieces = self._output.get(call_id)
        if not pieces:
            return ""
        if len(pieces) > 1:  # join once, so later reads are slices of one string
            pieces[:] = ["".join(pieces)]
        text = pieces[0]
        end = None if limit is None else offset + limit
        return text[offset:end]

    async def list_calls(
        self,
        *,
        states: Sequence[CallState] | None = None,
        model: str | None = None,
        owner: str | None = None,
        limit: int = 20,
    ) -> list[CallRecord]:
        found = [
            record
            for record in self._calls.values()
            if (states is None or record.state in states)
            and (model is None or record.model == model)
            and (owner is None or record.owner == owner)
        ]
        found.sort(key=lambda record: record.created_at, reverse=True)
        return found[:limit]

    async def interrupt_running(self, *, now: float, writer_alive: Callable[[str], bool]) -> int:
        orphans = [
            r
            for r in self._calls.values()
            if not r.state.done and not (r.writer is not None and writer_alive(r.writer))
        ]
        for record in orphans:
            self._calls[record.call_id] = record.evolve(
                state=CallState.INTERRUPTED, finished_at=now
            )
        return len(orphans)

    async def purge(self, *, before: float) -> int:
        old = [r.call_id for r in self._calls.values() if r.created_at < before]
        for call_id in old:
            self._drop(call_id)
        return len(old)

    async def get_session(self, name: str) -> SessionRecord | None:
        return self._sessions.get(name)

    async def put_session(self, record: SessionRecord) -> None:
        self._sessions[record.name] = record

    async def list_sessions(
        self, *, owner: str | None = None, limit: int = 50
    ) -> list[SessionRecord]:
        found = [s for s in self._sessions.values() if owner is None or s.owner == owner]
        found.sort(key=lambda session: session.updated_at, reverse=True)
        return found[:limit]

    async def get_cooldowns(self) -> list[CooldownRecord]:
        return list(self._cooldowns.values())

    async def put_cooldown(self, record: CooldownRecord) -> None:
        self._cooldowns[record.account] = record

    async def request_cancel(self, call_id: str, *, now: float) -> None:
        self._cancels.setdefault(call_id, now)

    async def cancel_requested(self, call_ids: Sequence[str]) -> list[str]:
        return [call_id for call_id in call_ids if call_id in self._cancels]

    async def aclose(self) -> None:
        return None

    def _forget_oldest(self) -> None:
        """Drop the oldest finished calls while over either bound (running ones are kept)."""
        if len(self._calls) <= self._max_calls and self._output_chars <= self._max_output_chars:
            return
        finished = sorted(
            (r for r in self._calls.values() if r.state.done), key=lambda r: r.created_at
        )
        for record in finished:
            if len(self._calls) <= self._max_calls and (
                self._output_chars <= self._max_output_chars
            ):
                break
            self._drop(record.call_id)

    def _drop(self, call_id: str) -> None:
        record = self._calls.pop(call_id)
        self._output.pop(call_id, None)
        self._cancels.pop(call_id, None)
        self._output_chars -= record.output_chars
