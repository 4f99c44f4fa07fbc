"""Reaching Redis: the client for a `RedisLocation` opened and checked (`connect`), the key
layout (`Keys`), and the record codec.

Key layout, every key under the prefix (``llminst:`` by default, ``?prefix=`` in the URL):

* ``call:ID``        hash: one call's `CallRecord`, a JSON value per field (absent: None);
                     ``output_chars`` is a plain integer the output script increments
* ``out:ID``         stream: the call's output, one entry per append; the entry's id is
                     ``END-0`` with END the character offset after it, field ``t`` the text
                     (so a read from offset N starts at ``XRANGE out:ID N+1 +``)
* ``calls``          sorted set: every call id, scored by ``created_at`` (listing, purge)
* ``active``         sorted set: the queued and running call ids (``interrupt_running``)
* ``cancel``         hash: call id -> when its cancel was asked for; ``cancel-bus``: the
                     pub/sub channel each request is also published on
* ``session:NAME``   string: one `SessionRecord` as JSON; ``sessions``: sorted set by ``updated_at``
* ``cooldowns``      hash: account -> `CooldownRecord` as JSON
* ``cache:KEY``      string: a `CachedAnswer` as JSON, expiring with it (``EX``); ``cache``:
                     sorted set of the cached keys by ``expires_at`` (count and clear)
* ``spend:KEY``      string: the sum of a budget's open reservations (`reserve_spend`)
* ``ledger:daily:START``, ``ledger:monthly:START``  hash: the budget totals of a UTC day or
                     month per model (`tallies`); ``ledger:v1``: older records were counted
* ``session-lock:NAME`` string: the holder of a session's turn, expiring with its lease
                     (`sessionlocks`)

What it must never do: log or print the password, or put it in an error message.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import trio

from ..._core.errors import ConfigError
from .location import (
    DEFAULT_PREFIX,
    PASSWORD_ENV,
    RedisLocation,
    StoreUnreachableError,
    hash_tagged,
    is_redis_url,
    joined_nodes,
)
from .tls import TlsProblemError, ssl_context

__all__ = [
    "DEFAULT_PREFIX",
    "PASSWORD_ENV",
    "ClientHolder",
    "Keys",
    "RedisLocation",
    "StoreUnreachableError",
    "by_score",
    "connect",
    "decode_field",
    "encode_field",
    "entered_client",
    "hash_tagged",
    "is_redis_url",
]

CONNECT_TIMEOUT_S = 5.0


class ClientHolder:
    """Keeps a `coredis.Redis` client entered in a trio system task of its own.

    coredis's client must be left by the task that entered it (it holds anyio task groups);
    a store, like `SQLiteStore`'s thread, must be closable from any task (a fixture opens it,
    a test closes it). The holder task enters the client, then waits for `close`.
    `around` are entered first and left last (a `coredis.Sentinel` the client asks).
    """

    def __init__(self, client: Any, *, around: tuple[Any, ...] = ()) -> None:
        self.client = client
        self._around = around
        self._opened = trio.Event()
        self._close = trio.Event()
        self._closed = trio.Event()
        self._error: BaseException | None = None

    async def start(self) -> None:
        trio.lowlevel.spawn_system_task(self._hold, name="llminst-store-redis")
        await self._opened.wait()
        if self._error is not None:
            raise self._error

    async def close(self) -> None:
        self._close.set()
        with trio.CancelScope(shield=True):
            await self._closed.wait()

    async def _hold(self) -> None:
        try:
            async with AsyncExitStack() as stack:
                for context in (*self._around, self.client):
                    await stack.enter_async_context(context)
                self._opened.set()
                await self._close.wait()
        except BaseException as exc:
            if not self._opened.is_set():
                self._error = exc
            elif not isinstance(exc, trio.Cancelled | Exception):
                raise
        finally:
            self._opened.set()
            self._closed.set()


async def connect(location: RedisLocation) -> ClientHolder:
    """A `coredis.Redis` client for `location`, entered and answering PING (in its holder).

    The caller must ``await holder.close()`` when done (`RedisStore.aclose`).

    Raises:
        ConfigError: coredis is not installed (``pip install llminst[redis]``).
        StoreUnreachableError: nothing answers at host:port, or it refused the password.
    """
    client, around = _client_for(_coredis(location), location)
    holder = ClientHolder(client, around=around)
    try:
        await holder.start()
        await holder.client.ping()
    except Exception as exc:
        await holder.close()
        raise _unreachable(location, exc) from None
    return holder


@asynccontextmanager
async def entered_client(location: RedisLocation) -> AsyncIterator[Any]:
    """The coredis client of `location`'s topology, entered in the caller's task (which
    must also leave it: coredis holds anyio task groups). For a holder any task may close,
    see `connect`.

    Raises:
        ConfigError: coredis is not installed.
    """
    client, around = _client_for(_coredis(location), location)
    async with AsyncExitStack() as stack:
        for context in (*around, client):
            await stack.enter_async_context(context)
        yield client


def _coredis(location: RedisLocation) -> Any:
    try:
        import coredis
    except ImportError:
        raise ConfigError(
            f"--store {location.shown} needs the Redis client: install llminst[redis] "
            "(pip install 'llminst[redis]')"
        ) from None
    return coredis


def _client_for(coredis: Any, location: RedisLocation) -> tuple[Any, tuple[Any, ...]]:
    """The client of `location`'s topology (not yet entered), and what must be entered
    before it (a sentinel client's `coredis.Sentinel`)."""
    common: dict[str, Any] = {
        "username": location.username,
        "password": location.password,
        "decode_responses": True,
        "connect_timeout": CONNECT_TIMEOUT_S,
    }
    tls: dict[str, Any] = {}
    if location.tls_options is not None:
        try:
            tls["ssl_context"] = ssl_context(location.tls_options)
        except TlsProblemError as exc:
            raise StoreUnreachableError(location.shown, exc.problem, exc.fix) from None
    common.update(tls)
    if location.topology == "cluster":
        nodes = [{"host": host, "port": port} for host, port in location.nodes]
        return coredis.RedisCluster(startup_nodes=nodes, **common), ()
    if location.topology == "sentinel":
        from coredis.connection import TCPLocation

        sentinel = coredis.Sentinel(
            [TCPLocation(host, port) for host, port in location.nodes],
            decode_responses=True,
            sentinel_kwargs={"connect_timeout": CONNECT_TIMEOUT_S, "decode_responses": True, **tls},
        )
        return sentinel.primary_for(location.service, db=location.db, **common), (sentinel,)
    single = coredis.Redis(host=location.host, port=location.port, db=location.db, **common)
    return single, ()


def _unreachable(location: RedisLocation, exc: Exception) -> StoreUnreachableError:
    text = str(exc)
    if location.password:
        text = text.replace(location.password, "***")
    if "auth" in text.lower() or "password" in text.lower():
        fix = f"give the password in the URL or ${PASSWORD_ENV}"
        problem = f"refused the credentials ({type(exc).__name__})"
    elif location.topology == "sentinel":
        fix = (
            f"check that a sentinel answers on {joined_nodes(location.nodes)} and monitors "
            f"{location.service!r} (the URL's service name), or pass another --store"
        )
        problem = f"is unreachable ({type(exc).__name__}: {text or 'no answer'})"
    else:
        fix = (
            f"start Redis on {joined_nodes(location.nodes)}, or pass another --store "
            "(a SQLite path or memory)"
        )
        problem = f"is unreachable ({type(exc).__name__}: {text or 'no answer'})"
    return StoreUnreachableError(location.shown, problem, fix)


class Keys:
    """The key names of one store (see the module docstring)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.calls = prefix + "calls"
        self.active = prefix + "active"
        self.cancel = prefix + "cancel"
        self.cancel_bus = prefix + "cancel-bus"  # pub/sub channel (`replicas.cancelbus`)
        self.sessions = prefix + "sessions"
        self.cooldowns = prefix + "cooldowns"
        self.cache_index = prefix + "cache"

    def call(self, call_id: str) -> str:
        return f"{self.prefix}call:{call_id}"

    def output(self, call_id: str) -> str:
        return f"{self.prefix}out:{call_id}"

    def session(self, name: str) -> str:
        return f"{self.prefix}session:{name}"

    def cached(self, key: str) -> str:
        return f"{self.prefix}cache:{key}"

    def spend(self, key: str) -> str:
        return f"{self.prefix}spend:{key}"


def by_score() -> Any:
    """``BYSCORE`` for ``ZRANGE`` (imported here: this package loads without coredis, so a
    missing client is a clear error at open, not an ImportError at import)."""
    from coredis.tokens import PureToken

    return PureToken.BYSCORE


def encode_field(value: Any) -> str:
    """A record field as a hash value (JSON; enums as their value)."""
    if hasattr(value, "value") and isinstance(value.value, str):
        value = value.value
    return json.dumps(value, ensure_ascii=False, default=str)


def decode_field(text: str) -> Any:
    return json.loads(text)


def storable(text: str) -> str:
    """`text` as Redis can keep it (UTF-8): a lone surrogate becomes '?', one for one, so
    character counts stay those of the text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text
