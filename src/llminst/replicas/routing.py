"""Turn routing over Redis: a session's turn handed to a replica on the host that can resume it.

Every replica says its host is alive (``<prefix>host:<host>``, refreshed with the heartbeat's
lease) and reads its host's work stream ``<prefix>turns:<host>`` in one consumer group, so one
replica of the host takes each entry. A replica that gets a turn another host must run
(`_core.routing.owner_host`) `offer`s it: it marks ``<prefix>turn:<id>`` ``waiting`` and adds an
entry (call id, model, prompt, session, options, its writer). The taker claims it with one Lua
script (``waiting`` -> ``taken:<writer>``); the offerer, when nobody took it within the claim
wait, withdraws it with another (``waiting`` -> ``withdrawn``) and runs the turn itself. The key
changes once, so a turn runs in exactly one place.

What it must never do: run a turn (the supervisor's `routed` module does, on both sides), let a
turn be both taken and withdrawn, or fail a call because Redis is unreachable (an offer that
cannot be made is withdrawn: the turn runs here, replayed).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from attrs import frozen

from ..logs import get_logger
from .health import RETRY_MAX_S, is_unavailable
from .heartbeats import writer_key

__all__ = ["RoutedTurn", "TurnQueue"]

_log = get_logger()

_GROUP = "turns"
_CLAIM_POLL_S = 0.05
_BLOCK_MS = 1000

# KEYS[1] the turn's key; ARGV the new state. 1: changed from waiting, 0: not waiting any more.
_SETTLE = """
if redis.call('GET', KEYS[1]) ~= 'waiting' then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
return 1
"""


def _group_missing(exc: BaseException) -> bool:
    """Whether `exc` says the stream's consumer group is gone (Redis restarted empty)."""
    coredis_errors = sys.modules.get("coredis.exceptions")  # loaded with a Redis only
    return coredis_errors is not None and isinstance(exc, coredis_errors.StreamConsumerGroupError)


@frozen(kw_only=True)
class RoutedTurn:
    """A turn one replica hands to another: what the taker runs, under the offerer's call id."""

    call_id: str
    model: str
    prompt: str
    session: str
    options: dict[str, Any]
    owner: str | None
    sender: str  # the offering replica's writer identity

    def to_fields(self) -> dict[str, str]:
        return {
            "call_id": self.call_id,
            "model": self.model,
            "prompt": self.prompt,
            "session": self.session,
            "options": json.dumps(self.options),
            "owner": json.dumps(self.owner),
            "sender": self.sender,
        }

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> RoutedTurn:
        return cls(
            call_id=fields["call_id"],
            model=fields["model"],
            prompt=fields["prompt"],
            session=fields["session"],
            options=json.loads(fields["options"]),
            owner=json.loads(fields["owner"]),
            sender=fields["sender"],
        )


class TurnQueue:
    """This replica's side of turn routing on one Redis.

    Args:
        client: a coredis client (``decode_responses=True``).
        host: this replica's host name.
        writer: this replica's writer identity.
        prefix: the keys' prefix.
        lease_s: how long the host stays alive after its last beat.
        every_s: seconds between beats.
        claim_wait_s: how long an offer waits to be taken before it is withdrawn.
    """

    def __init__(
        self,
        client: Any,
        *,
        host: str,
        writer: str,
        prefix: str,
        lease_s: float,
        every_s: float,
        claim_wait_s: float,
    ) -> None:
        self.client = client
        self.host = host
        self.writer = writer
        self.prefix = prefix
        self.lease_s = lease_s
        self.every_s = every_s
        self.claim_wait_s = claim_wait_s
        self._settle = client.register_script(_SETTLE)

    def _stream(self, host: str) -> str:
        return f"{self.prefix}turns:{host}"

    def _turn_key(self, call_id: str) -> str:
        return f"{self.prefix}turn:{call_id}"

    def _host_key(self, host: str) -> str:
        return f"{self.prefix}host:{host}"

    # -- the offering side ------------------------------------------------------------------

    async def host_alive(self, host: str) -> bool:
        """Whether a replica on `host` beat within its lease (False when Redis is away)."""
        try:
            return bool(await self.client.exists([self._host_key(host)]))
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            return False

    async def offer(self, host: str, turn: RoutedTurn) -> str | None:
        """Offer `turn` to `host`; the taker's writer identity once one took it, or None when
        it was withdrawn (nobody took it within the claim wait, or Redis is away): run it here.

        Cancellation: a cancelled offer is withdrawn (shielded) unless it was taken; then the
        taker runs it, and the caller must cancel it by its id.
        """
        key = self._turn_key(turn.call_id)
        ttl_ms = int(max(60.0, 10 * self.claim_wait_s) * 1000)
        try:
            await self.client.set(key, "waiting", px=ttl_ms)
            await self.client.xadd(self._stream(host), turn.to_fields())
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            return None
        try:
            with trio.move_on_after(self.claim_wait_s):
                while True:
                    taker = await self._taker(key)
                    if taker is not None:
                        return taker
                    await trio.sleep(_CLAIM_POLL_S)
        finally:
            with trio.CancelScope(shield=True):
                withdrawn = await self._withdraw(key)
        return None if withdrawn else await self._taker(key)

    async def _taker(self, key: str) -> str | None:
        """The writer that took the turn, or None (not yet, or Redis away: asked again)."""
        try:
            state = await self.client.get(key)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            return None
        if state is not None and state.startswith("taken:"):
            return str(state.removeprefix("taken:"))
        return None

    async def _withdraw(self, key: str) -> bool:
        """Move `key` from waiting to withdrawn; whether it moved.

        Redis away: tried again for another claim wait (a taker may have claimed it just
        before the outage, and a turn must not run twice); still away after that, True: the
        turn runs here (see docs/scaling.md).
        """
        with trio.move_on_after(self.claim_wait_s):
            while True:
                try:
                    return bool(await self._settle(keys=[key], args=["withdrawn"]))
                except Exception as exc:
                    if not is_unavailable(exc):
                        raise
                await trio.sleep(_CLAIM_POLL_S * 4)
        _log.warning("llminst.session.route_withdraw_unconfirmed", turn=key)
        return True

    async def writer_alive(self, writer: str) -> bool:
        """Whether `writer`'s heartbeat key exists (True when Redis is away: cannot tell)."""
        try:
            return bool(await self.client.exists([writer_key(self.prefix, writer)]))
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            return True

    # -- the taking side ----------------------------------------------------------------------

    async def run(self, take: Callable[[RoutedTurn], Awaitable[None]]) -> None:
        """Beat for this host and pass each turn this replica claims to `take`, forever."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._beat_forever)
            while True:
                try:
                    await self._serve(take)
                except Exception as exc:
                    if _group_missing(exc):  # a Redis restarted empty: make it again, read on
                        _log.warning("llminst.session.route_group_missing", host=self.host)
                        continue
                    # Unreachable, or anything else: routing must never stop the supervisor.
                    event = "lost" if is_unavailable(exc) else "failed"
                    _log.warning(f"llminst.session.route_listener_{event}", error=repr(exc))
                    await trio.sleep(RETRY_MAX_S)

    async def _beat_forever(self) -> None:
        lease_ms = max(1, int(self.lease_s * 1000))
        while True:
            with contextlib.suppress(Exception):  # heartbeats report Redis's health already
                await self.client.set(self._host_key(self.host), self.writer, px=lease_ms)
            await trio.sleep(self.every_s)

    async def _serve(self, take: Callable[[RoutedTurn], Awaitable[None]]) -> None:
        import coredis.exceptions  # only with a Redis, whose store needs it anyway

        stream = self._stream(self.host)
        with contextlib.suppress(coredis.exceptions.StreamDuplicateConsumerGroupError):
            await self.client.xgroup_create(stream, _GROUP, "$", mkstream=True)
        while True:
            read = await self.client.xreadgroup(
                _GROUP, self.writer, streams={stream: ">"}, count=1, block=_BLOCK_MS
            )
            for entries in (read or {}).values():
                for entry in entries:
                    await self.client.xack(stream, _GROUP, [entry.identifier])
                    turn = RoutedTurn.from_fields(dict(entry.field_values))
                    if await self._claim(turn.call_id):
                        await take(turn)

    async def _claim(self, call_id: str) -> bool:
        """Claim the turn: waiting -> taken by this writer; whether this replica took it."""
        taken = f"taken:{self.writer}"
        return bool(await self._settle(keys=[self._turn_key(call_id)], args=[taken]))
