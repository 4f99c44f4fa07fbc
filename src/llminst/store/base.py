"""`CallStore`: what every store backend offers (calls, their output, sessions, cooldowns, cached
answers, the usage ledger over the calls, and requests to cancel a call from another process).

Every method is a trio-compatible coroutine; a backend that does blocking I/O (SQLite) does it
off the trio thread, so a call never waits on a disk write to stream its text. Output is text
appended at the end as it streams and read back by character offset (never a split code point:
offsets count Python characters, i.e. code points).

What it must never do: run a call, start a process, or raise for a missing record (a lookup
returns None, an update of an unknown id does nothing).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .._core.budget import ModelSpend
from .._core.cache import CachedAnswer
from .._core.cooldowns import CooldownRecord
from .._core.errors import ConfigError, InvalidInputError
from .._core.ledger import UsageRow
from .._core.records import CallRecord, CallState, SessionRecord

__all__ = [
    "CallStore",
    "StoreUnusableError",
    "TellsCooldownChanges",
    "WritesInBatches",
    "WritesInPipelines",
]


class StoreUnusableError(ConfigError):
    """The store file cannot be used: a directory, not an llminst store, newer, not writable.

    The message is one line: ``store PATH <problem>; <fix>``.

    Attributes:
        path: the store's file.
    """

    def __init__(self, path: Path, problem: str, fix: str) -> None:
        InvalidInputError.__init__(self, f"store {path} {problem}; {fix}")
        self.source = str(path)
        self.key = None
        self.path = path


class CallStore(Protocol):
    """A place that keeps calls, their output and sessions."""

    async def add_call(self, record: CallRecord) -> None:
        """Keep a new call (its output starts empty)."""

    async def update_call(self, call_id: str, **changes: Any) -> None:
        """Change fields of a call's record (`CallRecord` attribute names)."""

    async def append_output(self, call_id: str, text: str) -> None:
        """Add `text` at the end of the call's output (and to its ``output_chars``)."""

    async def reset_output(self, call_id: str) -> None:
        """Empty the call's output: a new attempt starts over."""

    async def get_call(self, call_id: str) -> CallRecord | None:
        """The call's record, or None."""

    async def read_output(self, call_id: str, offset: int = 0, limit: int | None = None) -> str:
        """The call's output from character `offset`, at most `limit` characters ('' if none)."""

    async def list_calls(
        self,
        *,
        states: Sequence[CallState] | None = None,
        model: str | None = None,
        owner: str | None = None,
        limit: int = 20,
    ) -> list[CallRecord]:
        """Recent calls, newest first (by ``created_at``), filtered as asked.

        `owner` None lists every call; a value lists that owner's calls only.
        """

    async def interrupt_running(self, *, now: float, writer_alive: Callable[[str], bool]) -> int:
        """Mark calls still queued or running whose writer is gone as interrupted; how many.

        `writer_alive` says whether a `CallRecord.writer` still runs (a call with no writer
        counts as gone); their partial output is kept.
        """

    async def purge(self, *, before: float) -> int:
        """Delete calls created before `before` (and their output); how many."""

    async def get_session(self, name: str) -> SessionRecord | None:
        """The session, or None."""

    async def put_session(self, record: SessionRecord) -> None:
        """Keep the session (replacing one of the same name)."""

    async def list_sessions(
        self, *, owner: str | None = None, limit: int = 50
    ) -> list[SessionRecord]:
        """Sessions, most recently updated first."""

    async def get_cooldowns(self) -> list[CooldownRecord]:
        """Every account's cooldown record (ended ones included: they carry the repeats)."""

    async def put_cooldown(self, record: CooldownRecord) -> None:
        """Keep `record` as its account's cooldown (replacing the account's previous one)."""

    async def get_cached(self, key: str, *, now: float) -> CachedAnswer | None:
        """The answer cached under `key` if it has not expired at `now`, else None."""

    async def put_cached(self, answer: CachedAnswer) -> None:
        """Keep `answer` under its key (replacing an older one)."""

    async def clear_cache(self) -> int:
        """Forget every cached answer; how many there were."""

    async def usage_summary(
        self, *, since: float | None = None, group_by: str = "model"
    ) -> list[UsageRow]:
        """The ledger: one `UsageRow` per model, UTC day or session (`group_by`) of the calls
        that ended, created at or after `since` (None: all), sorted by group; the sums of
        `_core.ledger.summarize`."""

    async def period_spend(self, kind: str, *, start: float) -> list[ModelSpend]:
        """What a budget check reads: per model that answered, the known cost and the priced
        calls (`_core.budget.ModelSpend`) of the ended calls created in the UTC day or month
        (`kind` ``daily`` or ``monthly``, `_core.budget.period`) that begins at `start`.

        Sorted by model; the sums `usage_summary` gives for those calls. Redis keeps them as
        running totals per period (read in O(models), not O(calls of the period))."""

    async def request_cancel(self, call_id: str, *, now: float) -> None:
        """Ask whichever process runs `call_id` to cancel it (`llminst cancel`, `llminst top`).

        The request is kept until the call is purged; asking twice keeps the first time.
        """

    async def cancel_requested(self, call_ids: Sequence[str]) -> list[str]:
        """Those of `call_ids` someone asked to cancel (`request_cancel`), in any order."""

    async def reserve_spend(
        self, key: str, *, amount: float, cap: float, now: float, ttl_s: float
    ) -> bool:
        """Hold `amount` more of the budget `key` if what is held now is below `cap`; whether
        it was held. Atomic across every process sharing the store (two replicas cannot both
        take the last of a budget). What is held is forgotten `ttl_s` after the last
        reservation (a holder that died gives its share back then)."""

    async def release_spend(self, key: str, *, amount: float) -> None:
        """Give back `amount` of the budget `key` (`reserve_spend`); never below zero."""

    async def acquire_session_lock(
        self, name: str, holder: str, *, lease_s: float, now: float
    ) -> str:
        """Take the lock of session `name` for `holder` if it is free, expired, or already
        `holder`'s (then its lease is extended); the holder that holds it afterwards (`holder`:
        taken). Atomic across every process sharing the store. The lock lapses `lease_s` after
        it was taken or last renewed (a holder that died lets the next turn through then);
        `now` is the wall clock (epoch seconds) where the store has no clock of its own."""

    async def renew_session_lock(
        self, name: str, holder: str, *, lease_s: float, now: float
    ) -> bool:
        """Extend `holder`'s lock of session `name` to `lease_s` from now; False when `holder`
        no longer holds it (it lapsed, and maybe another took it)."""

    async def release_session_lock(self, name: str, holder: str) -> None:
        """Free the lock of session `name` if `holder` holds it (else nothing)."""

    async def aclose(self) -> None:
        """Finish pending writes and release the backend."""


@runtime_checkable
class WritesInBatches(Protocol):
    """A store that takes several writes as one piece of work and writes them behind the
    caller's back (SQLite: one wake of its thread, no trip back). Its writes never fail as
    unavailable (`replicas.health.is_unavailable`): a batch is not retried."""

    async def write_batch(
        self,
        writes: Sequence[Callable[[], Awaitable[None]]],
        failed: Callable[[Exception], None],
    ) -> None:
        """Hand `writes` (each a call of this store's write methods) over, in order, as one
        piece of work where it can. They may be written after this returns, but before
        anything asked of the store later; `failed` is called on the trio thread with the
        exception of each that failed (the others are kept)."""

    async def written(self) -> None:
        """Wait until every write handed over so far is written (seen by other processes)."""


@runtime_checkable
class WritesInPipelines(Protocol):
    """A store that sends a run of call writes in one round trip to its server (Redis)."""

    async def write_pipelined(
        self, writes: Sequence[Callable[[], Awaitable[None]]]
    ) -> list[Exception]:
        """Run `writes` (each a call of `add_call`, `update_call`, `append_output` or
        `reset_output`) in order, in one round trip; the exceptions of those that failed.
        Raises as a single write does when the server cannot be reached (then some may have
        been applied: the caller sends them all again, as it would a single write)."""


@runtime_checkable
class TellsCooldownChanges(Protocol):
    """A store that says cheaply whether any process changed a cooldown, so a call re-reads
    them only then (SQLite: a stat of a marker file; a store without it is read each call)."""

    def cooldowns_version(self) -> Hashable:
        """A value that changes whenever a cooldown is written to this store, by any process;
        no I/O but a stat. Read it before the cooldowns it is to vouch for."""
