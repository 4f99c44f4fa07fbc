"""A call's streamed output in Redis: a stream per call (``out:ID``), one entry per append.

Each entry's id is ``END-0``, END being the character offset just after its text, so the
stream is its own index: a read from offset N asks ``XRANGE out:ID N+1 +`` for the first
entry ending after N, and any replica can tail the stream (``XREAD``) as it grows. The call's
hash keeps ``output_chars``, the running character count (Python's, i.e. code points, never
Redis's byte lengths), incremented by the append script in the same step as the ``XADD``.

What it must never do: split a code point, keep output for an unknown call, or count bytes
as characters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .connection import Keys, storable
from .pipelined import PipelineMixin

__all__ = ["SCRIPTS", "OutputMixin"]

_PAGE = 64

# KEYS: call hash, output stream. ARGV: the text's length in characters, the text.
_APPEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local ended = redis.call('HINCRBY', KEYS[1], 'output_chars', ARGV[1])
redis.call('XADD', KEYS[2], ended .. '-0', 't', ARGV[2])
return ended
"""

# KEYS: call hash, output stream.
_RESET = """
redis.call('DEL', KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'output_chars', 0) end
return 1
"""


SCRIPTS = (_APPEND, _RESET)
"""The Lua scripts of this module (loaded when a store opens)."""


class OutputMixin(PipelineMixin):
    """The output part of `RedisStore` (needs ``_redis``, ``_keys`` and ``_script``)."""

    _redis: Any
    _keys: Keys
    _script: Callable[[str], Any]

    async def append_output(self, call_id: str, text: str) -> None:
        if text:
            await self.run_script(
                _APPEND,
                [self._keys.call(call_id), self._keys.output(call_id)],
                [len(text), storable(text)],
            )

    async def reset_output(self, call_id: str) -> None:
        await self.run_script(_RESET, [self._keys.call(call_id), self._keys.output(call_id)], [])

    async def read_output(self, call_id: str, offset: int = 0, limit: int | None = None) -> str:
        if offset < 0:
            raise ValueError("offset must be >= 0")
        if limit is not None and limit <= 0:
            return ""
        stop = None if limit is None else offset + limit
        pieces: list[str] = []
        first_start: int | None = None
        after = f"{offset + 1}-0"
        while True:
            entries = await self._redis.xrange(self._keys.output(call_id), after, "+", _PAGE)
            for entry in entries:
                end = int(entry.identifier.partition("-")[0])
                text = entry.field_values["t"]
                start = end - len(text)
                if stop is not None and start >= stop:
                    entries = []
                    break
                if first_start is None:
                    first_start = start
                pieces.append(text)
            if len(entries) < _PAGE:
                break
            after = f"({entries[-1].identifier}"
        if first_start is None:
            return ""
        joined = "".join(pieces)
        begin = offset - first_start
        return joined[begin:] if stop is None else joined[begin : stop - first_start]
