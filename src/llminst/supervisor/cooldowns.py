"""The cooldown keeper: each account's rest, in memory and in the call store.

A `CooldownKeeper` holds the supervisor's cooldowns (`_core.cooldowns.CooldownRecord`, one per
account), loads them from the store when the supervisor opens (so a rest outlives a restart)
and writes each change through to it. Before a call starts it re-reads the store's records
(`refresh`: a replica on the same store may have rested the account), skipped when the store
says no cooldown changed since its last read (`store.base.TellsCooldownChanges`: SQLite, with a
stat instead of a trip to its worker thread behind queued writes); the call runner then asks it
whether the model's account rests (`resting`), tells it of each rate-limit hit (`throttled`)
and of each success (`succeeded`); the decisions are `_core.cooldowns`'.

What it must never do: fail or hang a call because the store is broken or slow (a failed
write is logged, the rest holds in memory), or read a clock other than the one it was given.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import trio

from .._core.cooldowns import (
    CooldownRecord,
    account_of,
    cleared_after_success,
    cooldown_after,
    iso_utc,
)
from .._core.spec import ModelSpec
from ..logs import get_logger
from ..store.base import CallStore, TellsCooldownChanges

__all__ = ["CooldownKeeper"]

_log = get_logger()
_ACCOUNTS_KEPT = 256
_NEVER: Hashable = object()  # a version no store gives: read the cooldowns


class CooldownKeeper:
    """The cooldowns of one supervisor.

    Args:
        store: where they are kept across restarts.
        clock: the wall clock (epoch seconds); tests pass a virtual one.
    """

    def __init__(self, store: CallStore, clock: Callable[[], float]) -> None:
        self._store = store
        self.clock = clock
        self._versions = store if isinstance(store, TellsCooldownChanges) else None
        self._version_read: Hashable = _NEVER  # the store's cooldowns version at the last read
        self._records: dict[str, CooldownRecord] = {}
        # Each model's account, worked out once per spec (a call asks two or three times).
        self._accounts: dict[int, tuple[ModelSpec, str]] = {}

    def account(self, spec: ModelSpec) -> str:
        """`account_of(spec)`, remembered for the spec (specs are immutable)."""
        known = self._accounts.get(id(spec))
        if known is not None and known[0] is spec:
            return known[1]
        account = account_of(spec)
        if len(self._accounts) >= _ACCOUNTS_KEPT:  # specs replaced by configure_llm
            self._accounts.clear()
        self._accounts[id(spec)] = (spec, account)
        return account

    async def load(self) -> None:
        """Take the cooldowns the store kept (a store that fails to answer leaves none)."""
        version = self._store_version()
        try:
            records = await self._store.get_cooldowns()
        except Exception as exc:
            _log.warning("llminst.cooldown.load_failed", error=repr(exc))
            return
        self._records = {record.account: record for record in records}
        self._version_read = version

    async def refresh(self, spec: ModelSpec) -> None:
        """Take the store's records that are newer than ours: another process on the same
        store (a replica, another `llminst run`) may have rested `spec`'s account since this
        one loaded. A store that tells cooldown changes (`TellsCooldownChanges`) is read only
        when one happened since the last read. A store that fails to answer leaves what we
        know."""
        version = self._store_version()
        if version is not _NEVER and version == self._version_read:
            return
        try:
            records = await self._store.get_cooldowns()
        except Exception as exc:
            account = self.account(spec)
            _log.warning("llminst.cooldown.refresh_failed", account=account, error=repr(exc))
            return
        for record in records:  # every account's: a later call may skip the read
            known = self._records.get(record.account)
            if known is None or record.set_at > known.set_at:
                self._records[record.account] = record
        self._version_read = version

    def _store_version(self) -> Hashable:
        return _NEVER if self._versions is None else self._versions.cooldowns_version()

    def resting(self, spec: ModelSpec) -> CooldownRecord | None:
        """The cooldown `spec`'s account is in now, or None."""
        record = self._records.get(self.account(spec))
        return record if record is not None and record.active(self.clock()) else None

    def active(self) -> list[CooldownRecord]:
        """Every cooldown in force now, soonest to end first."""
        now = self.clock()
        return sorted(
            (record for record in self._records.values() if record.active(now)),
            key=lambda record: record.until,
        )

    async def throttled(
        self,
        spec: ModelSpec,
        *,
        model: str,
        reason: str,
        reset_at: float | None,
        gave_up: bool,
        now: float,
    ) -> None:
        """A call of `model` was rate limited: rest its account as `cooldown_after` says."""
        account = self.account(spec)
        record = cooldown_after(
            self._records.get(account),
            account=account,
            model=model,
            reason=reason,
            reset_at=reset_at,
            gave_up=gave_up,
            now=now,
        )
        if record is None:
            return
        _log.info(
            "llminst.cooldown.started",
            account=account,
            model=model,
            until=iso_utc(record.until),
            rest_s=round(record.until - now, 3),
            strikes=record.strikes,
        )
        await self._put(record)

    async def succeeded(self, spec: ModelSpec) -> None:
        """A call of `spec`'s account answered: an ended cooldown loses its repeats."""
        account = self.account(spec)
        record = cleared_after_success(self._records.get(account), now=self.clock())
        if record is not None:
            await self._put(record)

    async def _put(self, record: CooldownRecord) -> None:
        self._records[record.account] = record
        try:
            with trio.CancelScope(shield=True):  # a cancelled call still leaves its rest
                await self._store.put_cooldown(record)
        except Exception as exc:
            _log.warning("llminst.cooldown.write_failed", account=record.account, error=repr(exc))
