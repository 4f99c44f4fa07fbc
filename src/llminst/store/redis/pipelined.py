"""A call's writes to Redis in one round trip: the recorder's queued `add_call`,
`update_call`, `append_output` and `reset_output` go as one pipeline (`write_pipelined`), not
one ``EVALSHA`` round trip each.

While a task collects a pipeline, those four methods queue their script (`run_script`)
instead of sending it. The pipeline is not a transaction (a Redis Cluster spreads a batch's
keys over nodes): each write is still one script, applied alone and in order. A script the
server forgot (restarted, ``SCRIPT FLUSH``) is loaded again and the writes that met
``NOSCRIPT`` are sent once more, in order.

What it must never do: reorder writes, send a write twice when the server answered it, or
hide that the server cannot be reached (the recorder retries the batch then).
"""

from __future__ import annotations

import hashlib
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
        async with self._redis.pipeline(transaction=False, raise_on_error=False) as pipe:
            sent = [pipe.evalsha(_sha(source), keys=k, args=a) for source, k, a in scripts]
        failures: list[Exception] = []
        forgotten: list[Script] = []
        for script, request in zip(scripts, sent, strict=True):
            try:
                await request
            except Exception as exc:
                if "NOSCRIPT" in str(exc):
                    forgotten.append(script)
                else:
                    failures.append(exc)
        for source, keys, args in forgotten:  # each loads its script again on its way
            try:
                await self._script(source)(keys=keys, args=args)
            except Exception as exc:
                failures.append(exc)
        return failures


_SHAS: dict[str, str] = {}


def _sha(source: str) -> str:
    sha = _SHAS.get(source)
    if sha is None:
        sha = _SHAS[source] = hashlib.sha1(source.encode()).hexdigest()
    return sha
