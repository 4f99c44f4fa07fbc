"""Reaching Redis: a ``redis://`` / ``rediss://`` store URL parsed (`RedisLocation`), the
client opened and checked (`connect`), the key layout (`Keys`), and the record codec.

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

What it must never do: log or print the password, or put it in an error message.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import attrs
import trio
from attrs import frozen

from ..._core.errors import ConfigError, InvalidInputError

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
    "is_redis_url",
]

DEFAULT_PREFIX = "llminst:"
PASSWORD_ENV = "LLMINST_REDIS_PASSWORD"
CONNECT_TIMEOUT_S = 5.0
_SCHEMES = ("redis", "rediss")


class StoreUnreachableError(ConfigError):
    """The Redis a store URL names does not answer (or refuses us): one line naming the
    server (never the password) and the fix."""

    def __init__(self, where: str, problem: str, fix: str) -> None:
        InvalidInputError.__init__(self, f"store {where} {problem}; {fix}")
        self.source = where
        self.key = None


def is_redis_url(spec: str) -> bool:
    """Whether a store spec names Redis (``redis://`` or ``rediss://``)."""
    return spec.partition("://")[0].lower() in _SCHEMES and "://" in spec


@frozen(kw_only=True)
class RedisLocation:
    """A parsed store URL. `shown` is what messages and logs name (no password)."""

    host: str
    port: int
    db: int
    tls: bool
    username: str | None
    password: str | None = attrs.field(repr=False)
    prefix: str

    @property
    def shown(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{self.host}:{self.port}/{self.db}"

    @classmethod
    def parse(cls, url: str) -> RedisLocation:
        """Parse ``redis[s]://[[user]:password@]host[:port][/db][?prefix=P]``.

        The password comes from the URL, else ``$LLMINST_REDIS_PASSWORD``.

        Raises:
            ConfigError: not such a URL (the message never repeats the URL's password).
        """
        parts = urlsplit(url)
        where = f"{parts.scheme}://{parts.hostname or ''}"
        try:
            port = parts.port or 6379
            db_text = parts.path.lstrip("/") or "0"
            db = int(db_text)
        except ValueError:
            raise _bad_url(where, "its port and database must be numbers") from None
        if parts.scheme.lower() not in _SCHEMES or not parts.hostname:
            raise _bad_url(where, "it needs a host")
        query = parse_qs(parts.query)
        unknown = set(query) - {"prefix"}
        if unknown:
            raise _bad_url(where, f"unknown option(s) {', '.join(sorted(unknown))}")
        password = unquote(parts.password) if parts.password else os.environ.get(PASSWORD_ENV)
        return cls(
            host=parts.hostname,
            port=port,
            db=db,
            tls=parts.scheme.lower() == "rediss",
            username=unquote(parts.username) if parts.username else None,
            password=password or None,
            prefix=query.get("prefix", [DEFAULT_PREFIX])[-1],
        )


def _bad_url(where: str, problem: str) -> ConfigError:
    return StoreUnreachableError(
        where,
        f"is not a usable Redis URL ({problem})",
        "write it as redis://HOST:PORT/DB (rediss:// for TLS; ?prefix=NAME: to share a server)",
    )


class ClientHolder:
    """Keeps a `coredis.Redis` client entered in a trio system task of its own.

    coredis's client must be left by the task that entered it (it holds anyio task groups);
    a store, like `SQLiteStore`'s thread, must be closable from any task (a fixture opens it,
    a test closes it). The holder task enters the client, then waits for `close`.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
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
            async with self.client:
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
    try:
        import coredis
    except ImportError:
        raise ConfigError(
            f"--store {location.shown} needs the Redis client: install llminst[redis] "
            "(pip install 'llminst[redis]')"
        ) from None
    holder = ClientHolder(
        coredis.Redis(
            host=location.host,
            port=location.port,
            db=location.db,
            username=location.username,
            password=location.password,
            ssl=location.tls,
            decode_responses=True,
            connect_timeout=CONNECT_TIMEOUT_S,
        )
    )
    try:
        await holder.start()
        await holder.client.ping()
    except Exception as exc:
        await holder.close()
        raise _unreachable(location, exc) from None
    return holder


def _unreachable(location: RedisLocation, exc: Exception) -> StoreUnreachableError:
    text = str(exc)
    if location.password:
        text = text.replace(location.password, "***")
    if "auth" in text.lower() or "password" in text.lower():
        fix = f"give the password in the URL or ${PASSWORD_ENV}"
        problem = f"refused the credentials ({type(exc).__name__})"
    else:
        fix = (
            f"start Redis on {location.host}:{location.port}, or pass another --store "
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
