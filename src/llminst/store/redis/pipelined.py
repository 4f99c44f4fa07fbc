"""A call's writes to Redis in one round trip: the recorder's queued `add_call`,
`update_call`, `append_output` and `reset_output` go as one pipeline (`write_pipelined`), not
one ``EVALSHA`` round trip each.

While a task collects a pipeline, those four methods queue their script (`run_script`)
instead of sending it. The pipeline is not a transaction (a Redis Cluster spreads a batch's
keys over nodes): each write is still one script, applied alone and in order, sent whole
(``EVAL``: the server caches it) so a server that forgot its scripts runs them all the same.

What it must never do: reorder writes, send a write twice when the server answered it, or
hide that the server cannot be reached (the recorder retries the batch then).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import trio

__all__ = ["PipelineMixin"]

Script = tuple[str, list[Any], list[Any]]  # source, keys, args


class PipelineMixin:
    """The pipelined writes of `RedisStore` (needs ``_redis`` and ``_script``)."""

    _redis: Any
    _script: Callable[[str], Any]
    _collecting: tuple[trio.lowlevel.Task, list[Script]] | None = None

    async def run_script(self, source: str, keys: list[Any], args: list[Any]) -> None:
        """Run the write script `source` now, or queue it in the pipeline this task collects."""
        collecting = self._collecting
        if collecting is not None and collecting[0] is trio.lowlevel.current_task():
            collecting[1].append((source, keys, args))
            return
        await self._script(source)(keys=keys, args=args)

    async def write_pipelined(
        self, writes: Sequence[Callable[[], Awaitable[None]]]
    ) -> list[Exception]:
        """Run `writes` (calls of the four call-writing methods) as one pipeline, in order;
        the exceptions of those that failed. Raises what the client raises when the server
        cannot be reached (some writes may have been applied: the caller sends them again)."""
        failures: list[Exception] = []
        scripts: list[Script] = []
        self._collecting = (trio.lowlevel.current_task(), scripts)
        try:
            for write in writes:
                try:
                    await write()
                except Exception as exc:  # a bad argument, before anything is sent
                    failures.append(exc)
        finally:
            self._collecting = None
        if scripts:
            failures += await self._send(scripts)
        return failures

    async def _send(self, scripts: list[Script]) -> list[Exception]:
        # EVAL, not EVALSHA: a server that forgot its scripts (restarted empty) still runs
        # each write in its place; re-sending those that met NOSCRIPT would put them after
        # the writes that followed them (an append before its call's record).
        async with self._redis.pipeline(transaction=False, raise_on_error=False) as pipe:
            sent = [pipe.eval(source, keys=keys, args=args) for source, keys, args in scripts]
        failures: list[Exception] = []
        for request in sent:
            try:
                await request
            except Exception as exc:
                failures.append(exc)
        return failures
