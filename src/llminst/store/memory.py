"""`MemoryStore`: calls, output, sessions, cooldowns and cached answers kept in this process only.

Used by tests, by ``--store memory`` (nothing on disk), and by a library that passes no store.
It keeps at most `max_calls` calls and `max_output_chars` characters of output in all (the oldest
finished calls are dropped first), so a long-lived process does not grow without bound. Its
writes complete at once (the ``*_now`` methods), so the recorder applies them on the call's
path instead of queueing them for a writer task. What it must never do: block, or touch a file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from .._core.budget import ModelSpend, period, spend_of
from .._core.cache import CachedAnswer
from .._core.cooldowns import CooldownRecord
from .._core.ledger import UsageRow, check_group_by, summarize
from .._core.records import CallRecord, CallState, SessionRecord

__all__ = ["MemoryStore"]

_CALL_FIELDS = frozenset(field.name for field in attrs.fields(CallRecord))


class MemoryStore:
    """A `CallStore` in memory."""

    def __init__(self, *, max_calls: int = 1000, max_output_chars: int = 64 * 1024 * 1024) -> None:
        self._calls: dict[str, CallRecord] = {}
        # Changes to a call's record not applied yet: a call changes its record twice (running,
        # then its end) and is seldom read meanwhile, so a record is rebuilt when read.
        self._changes: dict[str, dict[str, Any]] = {}
        self._output: dict[str, list[str]] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self._cooldowns: dict[str, CooldownRecord] = {}
        # Characters of output per call, kept beside the records so an append costs no copy
        # of a record (`output_chars` is filled in when a record is read).
        self._chars: dict[str, int] = {}
        self._cache: dict[str, CachedAnswer] = {}
        self._cancels: dict[str, float] = {}  # call id -> when its cancel was asked for
        self._spend: dict[str, tuple[float, float]] = {}  # budget key -> (held, expires at)
        self._session_locks: dict[str, tuple[str, float]] = {}  # name -> (holder, expires at)
        self._max_calls = max_calls
        self._max_output_chars = max_output_chars
        self._output_chars = 0

    # -- writes: each completes at once, so the recorder applies them on the call's path -----

    def add_call_now(self, record: CallRecord) -> None:
        self._calls[record.call_id] = record
        self._changes.pop(record.call_id, None)
        self._output[record.call_id] = []
        self._chars[record.call_id] = 0
        self._forget_oldest()

    def update_call_now(self, call_id: str, changes: dict[str, Any]) -> None:
        unknown = changes.keys() - _CALL_FIELDS
        if unknown:
            raise TypeError(f"CallRecord has no field(s) {', '.join(sorted(unknown))}")
        if call_id not in self._calls:
            return
        pending = self._changes.get(call_id)
        if pending is None:
            self._changes[call_id] = dict(changes)
        else:
            pending.update(changes)

    def append_output_now(self, call_id: str, text: str) -> None:
        pieces = self._output.get(call_id)
        if pieces is None or not text:
            return
        pieces.append(text)
        self._chars[call_id] += len(text)
        self._output_chars += len(text)
        if self._output_chars > self._max_output_chars:
            self._forget_oldest()

    def reset_output_now(self, call_id: str) -> None:
        if call_id in self._output:
            self._output[call_id] = []
            self._output_chars -= self._chars[call_id]
            self._chars[call_id] = 0

    async def add_call(self, record: CallRecord) -> None:
        self.add_call_now(record)

    async def update_call(self, call_id: str, **changes: Any) -> None:
        self.update_call_now(call_id, changes)

    async def append_output(self, call_id: str, text: str) -> None:
        self.append_output_now(call_id, text)

    async def reset_output(self, call_id: str) -> None:
        self.reset_output_now(call_id)

    # -- reads ----------------------------------------------------------------------------

    async def get_call(self, call_id: str) -> CallRecord | None:
        self._apply_changes(call_id)
        record = self._calls.get(call_id)
        return None if record is None else self._counted(record)

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
        self._apply_changes()
        found = [
            record
            for record in self._calls.values()
            if (states is None or record.state in states)
            and (model is None or record.model == model)
            and (owner is None or record.owner == owner)
        ]
        found.sort(key=lambda record: record.created_at, reverse=True)
        return [self._counted(record) for record in found[:limit]]

    async def interrupt_running(self, *, now: float, writer_alive: Callable[[str], bool]) -> int:
        self._apply_changes()
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

    async def get_cached(self, key: str, *, now: float) -> CachedAnswer | None:
        answer = self._cache.get(key)
        if answer is not None and not answer.fresh(now):
            del self._cache[key]
            return None
        return answer

    async def put_cached(self, answer: CachedAnswer) -> None:
        self._cache.pop(answer.key, None)  # re-inserted last: the newest
        self._cache[answer.key] = answer
        while len(self._cache) > self._max_calls:  # the oldest answer goes first
            del self._cache[next(iter(self._cache))]

    async def clear_cache(self) -> int:
        count = len(self._cache)
        self._cache.clear()
        return count

    async def usage_summary(
        self, *, since: float | None = None, group_by: str = "model"
    ) -> list[UsageRow]:
        self._apply_changes()
        return summarize(self._calls.values(), since=since, group_by=check_group_by(group_by))

    async def period_spend(self, kind: str, *, start: float) -> list[ModelSpend]:
        self._apply_changes()
        start, end = period(kind, start)
        inside = [call for call in self._calls.values() if start <= call.created_at < end]
        return spend_of(summarize(inside, group_by="model"))

    async def request_cancel(self, call_id: str, *, now: float) -> None:
        self._cancels.setdefault(call_id, now)

    async def cancel_requested(self, call_ids: Sequence[str]) -> list[str]:
        return [call_id for call_id in call_ids if call_id in self._cancels]

    async def reserve_spend(
        self, key: str, *, amount: float, cap: float, now: float, ttl_s: float
    ) -> bool:
        # No await between the read and the write: atomic within this trio run.
        held, expires_at = self._spend.get(key, (0.0, now))
        held = held if expires_at > now else 0.0
        if held >= cap:
            return False
        self._spend[key] = (held + amount, now + ttl_s)
        return True

    async def release_spend(self, key: str, *, amount: float) -> None:
        held, expires_at = self._spend.get(key, (0.0, 0.0))
        left = held - amount
        if left <= 1e-12:
            self._spend.pop(key, None)
        else:
            self._spend[key] = (left, expires_at)

    async def acquire_session_lock(
        self, name: str, holder: str, *, lease_s: float, now: float
    ) -> str:
        # No await between the read and the write: atomic within this trio run.
        current, expires_at = self._session_locks.get(name, (holder, now))
        if current != holder and expires_at > now:
            return current
        self._session_locks[name] = (holder, now + lease_s)
        return holder

    async def renew_session_lock(
        self, name: str, holder: str, *, lease_s: float, now: float
    ) -> bool:
        current, expires_at = self._session_locks.get(name, (None, now))
        if current != holder or expires_at <= now:
            return False
        self._session_locks[name] = (holder, now + lease_s)
        return True

    async def release_session_lock(self, name: str, holder: str) -> None:
        if self._session_locks.get(name, (None, 0.0))[0] == holder:
            del self._session_locks[name]

    async def aclose(self) -> None:
        return None

    def _forget_oldest(self) -> None:
        """Drop the oldest finished calls while over either bound (running ones are kept).

        Calls are kept in the order they were added, oldest first, so the scan stops at the
        first calls it may drop: sorting every call on each add cost about 0.4 ms a call once
        the store was full.
        """
        calls, chars = len(self._calls), self._output_chars
        oldest_finished: list[str] = []
        for record in self._calls.values():
            if calls <= self._max_calls and chars <= self._max_output_chars:
                break
            if self._state(record).done:
                oldest_finished.append(record.call_id)
                calls -= 1
                chars -= self._chars[record.call_id]
        for call_id in oldest_finished:
            self._drop(call_id)

    def _drop(self, call_id: str) -> None:
        del self._calls[call_id]
        self._changes.pop(call_id, None)
        self._output.pop(call_id, None)
        self._cancels.pop(call_id, None)
        self._output_chars -= self._chars.pop(call_id, 0)

    def _apply_changes(self, call_id: str | None = None) -> None:
        """Rebuild the records with changes pending (`call_id`'s only, or every one)."""
        if call_id is not None:
            changes = self._changes.pop(call_id, None)
            if changes is not None:
                self._calls[call_id] = self._calls[call_id].evolve(**changes)
            return
        for pending_id in list(self._changes):
            self._apply_changes(pending_id)

    def _state(self, record: CallRecord) -> CallState:
        pending = self._changes.get(record.call_id)
        state: CallState = record.state if pending is None else pending.get("state", record.state)
        return state

    def _counted(self, record: CallRecord) -> CallRecord:
        chars = self._chars.get(record.call_id, 0)
        return record if record.output_chars == chars else record.evolve(output_chars=chars)
