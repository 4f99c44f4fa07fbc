"""The response cache of one supervisor: answers kept in the call store, served without a process.

`ResponseCache.lookup` answers a call whose request asked for caching (`CallRequest.cache_ttl_s`)
from the store when the same call (`_core.cache.cache_key`) succeeded before and has not
expired: the text is passed to the call's watchers and stream like a CLI's, and the result says
``cached: true`` with the id of the call that produced it (no tokens, cost 0). `keep` stores a
successful answer under the key of the model that gave it (after a fallback, that model's key,
so a later call to the first model is not answered by another one).

What it must never do: cache a failure or a session's call (`_core.cache` decides), start a
process, or fail or slow a call because the store is broken (a failed read is a miss, a failed
write is logged).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs
import trio

from .._core.cache import CachedAnswer, cache_key
from .._core.events import TextDelta
from .._core.result import CallResult
from ..logs import get_logger
from ..store.base import CallStore

if TYPE_CHECKING:
    from .call import Call

__all__ = ["ResponseCache"]

_log = get_logger()


class ResponseCache:
    """Cached answers of one supervisor, kept in `store`; `clock` is the wall clock."""

    def __init__(self, store: CallStore, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock

    async def lookup(self, call: Call) -> CallResult | None:
        """The cached answer to `call` (already streamed to it), or None: a miss."""
        key = cache_key(call.request)
        try:
            answer = await self._store.get_cached(key, now=self._clock())
        except Exception as exc:
            _log.warning("llminst.cache.read_failed", error=repr(exc))
            return None
        if answer is None:
            call.log.info("llminst.cache.missed", key=key[:16])
            return None
        result = _hit_result(answer, duration_s=trio.current_time() - call.started)
        call.log.info("llminst.cache.hit", key=key[:16], original_call=answer.call_id)
        if result.output:
            await call.emit(TextDelta(result.output))
        return result

    async def keep(self, call: Call, result: CallResult, ttl_s: float) -> None:
        """Keep the successful `result` of `call` for `ttl_s` seconds."""
        now = self._clock()
        answer = CachedAnswer(
            key=cache_key(call.request),
            call_id=call.id,
            result=result.to_dict(),
            created_at=now,
            expires_at=now + ttl_s,
        )
        try:
            with trio.CancelScope(shield=True):  # an answer paid for is kept
                await self._store.put_cached(answer)
        except Exception as exc:
            _log.warning("llminst.cache.write_failed", error=repr(exc))
            return
        call.log.info("llminst.cache.stored", key=answer.key[:16], ttl_s=ttl_s)

    async def clear(self) -> int:
        """Forget every cached answer; how many there were."""
        count = await self._store.clear_cache()
        _log.info("llminst.cache.cleared", answers=count)
        return count


def _hit_result(answer: CachedAnswer, *, duration_s: float) -> CallResult:
    """The result of a call answered by `answer`: its text, no process, nothing spent."""
    names = {field.name for field in attrs.fields(CallResult)}
    original = CallResult(**{k: v for k, v in answer.result.items() if k in names})
    return attrs.evolve(
        original,
        attempts=0,
        exit_code=None,
        duration_s=round(duration_s, 6),
        usage=None,
        cost_usd=0.0,
        cost_source="cache",
        stderr_tail="",
        fallback_chain=[],
        cached=True,
        cached_call_id=answer.call_id,
    )
