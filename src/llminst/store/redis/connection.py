"""Reaching Redis: a store URL parsed (`RedisLocation`), the client opened and checked
(`connect`), the key layout (`Keys`), and the record codec.

Three topologies, one URL form each (the password from the URL or ``$LLMINST_REDIS_PASSWORD``):

* ``redis[s]://[[user]:password@]HOST[:PORT][/DB][?prefix=P]``: one server (`coredis.Redis`).
* ``redis+sentinel://[[user]:password@]HOST:PORT[,HOST:PORT...]/SERVICE[/DB][?prefix=P]``:
  the sentinels to ask; the client talks to SERVICE's primary and, after a failover, to the
  promoted one (coredis asks the sentinels again when its connection to the old one fails).
  The password is the data servers' (the sentinels are asked without one).
* ``redis+cluster://[[user]:password@]HOST:PORT[,HOST:PORT...][?prefix=P]``: any nodes of a
  Redis Cluster (`coredis.RedisCluster` finds the rest). The prefix is forced into a hash tag
  (``{llminst}:``; ``?prefix=team-a:`` becomes ``{team-a}:``), so every key of one store
  lands in ONE hash slot: the Lua scripts and transactions touch several keys of a call
  (record, index, output) and a cluster refuses keys of different slots in one script. The
  price is that one store lives on one node, which is plenty: a keyspace's whole traffic is a
  handful of commands per call, far below one node's throughput (benchmarks/results/
  capacity.md); several stores (prefixes) spread over the nodes.

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
* ``session-lock:NAME`` string: the holder of a session's turn, expiring with its lease
                     (`sessionlocks`)

What it must never do: log or print the password, or put it in an error message.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
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
    "entered_client",
    "hash_tagged",
    "is_redis_url",
]

DEFAULT_PREFIX = "llminst:"
PASSWORD_ENV = "LLMINST_REDIS_PASSWORD"
CONNECT_TIMEOUT_S = 5.0
_SCHEMES = ("redis", "rediss")
SENTINEL_SCHEME = "redis+sentinel"
CLUSTER_SCHEME = "redis+cluster"
_ALL_SCHEMES = (*_SCHEMES, SENTINEL_SCHEME, CLUSTER_SCHEME)
_URL_FORMS = (
    "write it as redis://HOST:PORT/DB (rediss:// for TLS), "
    "redis+sentinel://HOST:PORT[,HOST:PORT...]/SERVICE[/DB] or "
    "redis+cluster://HOST:PORT[,HOST:PORT...] (?prefix=NAME: to share a server)"
)


class StoreUnreachableError(ConfigError):
    """The Redis a store URL names does not answer (or refuses us): one line naming the
    server (never the password) and the fix."""

    def __init__(self, where: str, problem: str, fix: str) -> None:
        InvalidInputError.__init__(self, f"store {where} {problem}; {fix}")
        self.source = where
        self.key = None


def is_redis_url(spec: str) -> bool:
    """Whether a store spec names Redis (``redis[s]://``, ``redis+sentinel://``,
    ``redis+cluster://``)."""
    return spec.partition("://")[0].lower() in _ALL_SCHEMES and "://" in spec


@frozen(kw_only=True)
class RedisLocation:
    """A parsed store URL. `shown` is what messages and logs name (no password).

    `topology` is ``single``, ``sentinel`` or ``cluster``; `nodes` the sentinels or cluster
    nodes given (for ``single``, the one server); `host`/`port` the first of them.
    """

    host: str
    port: int
    db: int
    tls: bool
    username: str | None
    password: str | None = attrs.field(repr=False)
    prefix: str
    topology: str = "single"
    nodes: tuple[tuple[str, int], ...] = ()
    service: str | None = None

    @property
    def shown(self) -> str:
        if self.topology == "sentinel":
            return f"{SENTINEL_SCHEME}://{_joined(self.nodes)}/{self.service}/{self.db}"
        if self.topology == "cluster":
            return f"{CLUSTER_SCHEME}://{_joined(self.nodes)}"
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{self.host}:{self.port}/{self.db}"

    @classmethod
    def parse(cls, url: str) -> RedisLocation:
        """Parse a store URL of one of the forms in the module docstring.

        The password comes from the URL, else ``$LLMINST_REDIS_PASSWORD``.

        Raises:
            ConfigError: not such a URL (the message never repeats the URL's password).
        """
        scheme = url.partition("://")[0].lower()
        if scheme in (SENTINEL_SCHEME, CLUSTER_SCHEME):
            return _parse_multi(url, scheme)
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
        password = unquote(parts.password) if parts.password else os.environ.get(PASSWORD_ENV)
        return cls(
            host=parts.hostname,
            port=port,
            db=db,
            tls=parts.scheme.lower() == "rediss",
            username=unquote(parts.username) if parts.username else None,
            password=password or None,
            prefix=_prefix_option(parts.query, where),
            nodes=((parts.hostname, port),),
        )


def _joined(nodes: tuple[tuple[str, int], ...]) -> str:
    return ",".join(f"{host}:{port}" for host, port in nodes)


def _prefix_option(query: str, where: str) -> str:
    options = parse_qs(query)
    unknown = set(options) - {"prefix"}
    if unknown:
        raise _bad_url(where, f"unknown option(s) {', '.join(sorted(unknown))}")
    return options.get("prefix", [DEFAULT_PREFIX])[-1]


def _parse_multi(url: str, scheme: str) -> RedisLocation:
    """A ``redis+sentinel://`` or ``redis+cluster://`` URL: several HOST:PORT, comma-separated
    (`urlsplit` reads one host only)."""
    rest, _, query = url.partition("://")[2].partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, _, hosts = netloc.rpartition("@")
    where = f"{scheme}://{hosts}"
    nodes = tuple(_host_port(item, where) for item in hosts.split(",") if item)
    if not nodes:
        raise _bad_url(where, "it needs at least one HOST:PORT")
    service, db = _service_and_db(path, scheme, where)
    username, _, password_text = userinfo.partition(":") if userinfo else ("", "", "")
    password = unquote(password_text) if password_text else os.environ.get(PASSWORD_ENV)
    prefix = _prefix_option(query, where)
    return RedisLocation(
        host=nodes[0][0],
        port=nodes[0][1],
        db=db,
        tls=False,
        username=unquote(username) or None,
        password=password or None,
        prefix=hash_tagged(prefix) if scheme == CLUSTER_SCHEME else prefix,
        topology="sentinel" if scheme == SENTINEL_SCHEME else "cluster",
        nodes=nodes,
        service=service,
    )


def _host_port(item: str, where: str) -> tuple[str, int]:
    host, _, port_text = item.rpartition(":")
    if not host or not port_text.isdigit():
        raise _bad_url(where, f"each node must be HOST:PORT, not {item!r}")
    return host, int(port_text)


def _service_and_db(path: str, scheme: str, where: str) -> tuple[str | None, int]:
    segments = [segment for segment in path.split("/") if segment]
    if scheme == CLUSTER_SCHEME:
        if segments:
            raise _bad_url(where, "a cluster has only database 0: drop the path")
        return None, 0
    if not segments or len(segments) > 2:
        raise _bad_url(where, "it needs the sentinel service name: .../SERVICE[/DB]")
    if len(segments) == 2 and not segments[1].isdigit():
        raise _bad_url(where, "its database must be a number")
    return unquote(segments[0]), int(segments[1]) if len(segments) == 2 else 0


def hash_tagged(prefix: str) -> str:
    """`prefix` with a Redis Cluster hash tag, so all keys under it share one slot.

    A prefix that has a tag already (``{...}`` with something inside) stays; else its name
    (without the trailing ``:``) goes in braces: ``llminst:`` -> ``{llminst}:``.
    """
    opening = prefix.find("{")
    closing = prefix.find("}", opening + 1) if opening >= 0 else -1
    if opening >= 0 and closing > opening + 1:
        return prefix
    name = prefix.rstrip(":")
    return "{" + name + "}" + prefix[len(name) :]


def _bad_url(where: str, problem: str) -> ConfigError:
    return StoreUnreachableError(where, f"is not a usable Redis URL ({problem})", _URL_FORMS)


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
    if location.topology == "cluster":
        nodes = [{"host": host, "port": port} for host, port in location.nodes]
        return coredis.RedisCluster(startup_nodes=nodes, **common), ()
    if location.topology == "sentinel":
        from coredis.connection import TCPLocation

        sentinel = coredis.Sentinel(
            [TCPLocation(host, port) for host, port in location.nodes],
            decode_responses=True,
            sentinel_kwargs={"connect_timeout": CONNECT_TIMEOUT_S, "decode_responses": True},
        )
        return sentinel.primary_for(location.service, db=location.db, **common), (sentinel,)
    single = coredis.Redis(
        host=location.host, port=location.port, db=location.db, ssl=location.tls, **common
    )
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
            f"check that a sentinel answers on {_joined(location.nodes)} and monitors "
            f"{location.service!r} (the URL's service name), or pass another --store"
        )
        problem = f"is unreachable ({type(exc).__name__}: {text or 'no answer'})"
    else:
        fix = (
            f"start Redis on {_joined(location.nodes)}, or pass another --store "
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
