"""Where a Redis store is: a store URL parsed into a `RedisLocation` (never connecting).

Three topologies, one URL form each (the password from the URL or ``$LLMINST_REDIS_PASSWORD``;
``rediss`` for TLS to every server, with the query options of `tls`):

* ``redis[s]://[[user]:password@]HOST[:PORT][/DB][?prefix=P]``: one server (`coredis.Redis`).
* ``redis[s]+sentinel://[[user]:password@]HOST:PORT[,HOST:PORT...]/SERVICE[/DB][?prefix=P]``:
  the sentinels to ask; the client talks to SERVICE's primary and, after a failover, to the
  promoted one (coredis asks the sentinels again when its connection to the old one fails).
  The password is the data servers' (the sentinels are asked without one).
* ``redis[s]+cluster://[[user]:password@]HOST:PORT[,HOST:PORT...][?prefix=P]``: any nodes of a
  Redis Cluster (`coredis.RedisCluster` finds the rest). The prefix is forced into a hash tag
  (``{llminst}:``; ``?prefix=team-a:`` becomes ``{team-a}:``), so every key of one store
  lands in ONE hash slot: the Lua scripts and transactions touch several keys of a call
  (record, index, output) and a cluster refuses keys of different slots in one script. The
  price is that one store lives on one node, which is plenty: a keyspace's whole traffic is a
  handful of commands per call, far below one node's throughput (benchmarks/results/
  capacity.md); several stores (prefixes) spread over the nodes.

What it must never do: connect, or repeat the URL's password in a message or a log line.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, unquote, urlsplit

import attrs
from attrs import frozen

from ..._core.errors import ConfigError, InvalidInputError
from .tls import TLS_OPTIONS, TlsOptions, TlsProblemError, tls_options

__all__ = [
    "CLUSTER_SCHEME",
    "DEFAULT_PREFIX",
    "PASSWORD_ENV",
    "SENTINEL_SCHEME",
    "RedisLocation",
    "StoreUnreachableError",
    "hash_tagged",
    "is_redis_url",
    "joined_nodes",
]

DEFAULT_PREFIX = "llminst:"
PASSWORD_ENV = "LLMINST_REDIS_PASSWORD"
_SCHEMES = ("redis", "rediss")
SENTINEL_SCHEME = "redis+sentinel"
CLUSTER_SCHEME = "redis+cluster"
_MULTI_SCHEMES = {
    SENTINEL_SCHEME: ("sentinel", False),
    CLUSTER_SCHEME: ("cluster", False),
    "rediss+sentinel": ("sentinel", True),
    "rediss+cluster": ("cluster", True),
}  # scheme -> (topology, TLS)
_ALL_SCHEMES = (*_SCHEMES, *_MULTI_SCHEMES)
_URL_FORMS = (
    "write it as redis://HOST:PORT/DB, "
    "redis+sentinel://HOST:PORT[,HOST:PORT...]/SERVICE[/DB] or "
    "redis+cluster://HOST:PORT[,HOST:PORT...] (rediss... for TLS, with ?ssl_ca_certs=PATH; "
    "?prefix=NAME: to share a server)"
)


class StoreUnreachableError(ConfigError):
    """The Redis a store URL names does not answer (or refuses us): one line naming the
    server (never the password) and the fix."""

    def __init__(self, where: str, problem: str, fix: str) -> None:
        InvalidInputError.__init__(self, f"store {where} {problem}; {fix}")
        self.source = where
        self.key = None


def is_redis_url(spec: str) -> bool:
    """Whether a store spec names Redis (``redis[s]://``, ``redis[s]+sentinel://``,
    ``redis[s]+cluster://``)."""
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
    tls_options: TlsOptions | None = None  # with `tls`: how the servers are checked

    @property
    def shown(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        if self.topology == "sentinel":
            return f"{scheme}+sentinel://{joined_nodes(self.nodes)}/{self.service}/{self.db}"
        if self.topology == "cluster":
            return f"{scheme}+cluster://{joined_nodes(self.nodes)}"
        return f"{scheme}://{self.host}:{self.port}/{self.db}"

    @classmethod
    def parse(cls, url: str) -> RedisLocation:
        """Parse a store URL of one of the forms in the module docstring.

        The password comes from the URL, else ``$LLMINST_REDIS_PASSWORD``.

        Raises:
            ConfigError: not such a URL (the message never repeats the URL's password).
        """
        scheme = url.partition("://")[0].lower()
        if scheme in _MULTI_SCHEMES:
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
        tls = parts.scheme.lower() == "rediss"
        prefix, tls_given = _query_options(parts.query, where, tls=tls)
        return cls(
            host=parts.hostname,
            port=port,
            db=db,
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=password or None,
            prefix=prefix,
            nodes=((parts.hostname, port),),
            tls_options=tls_given,
        )


def joined_nodes(nodes: tuple[tuple[str, int], ...]) -> str:
    """The nodes as a message names them: ``HOST:PORT,HOST:PORT``."""
    return ",".join(f"{host}:{port}" for host, port in nodes)


def _query_options(query: str, where: str, *, tls: bool) -> tuple[str, TlsOptions | None]:
    """The key prefix and the TLS options of a URL's query."""
    options = parse_qs(query)
    unknown = set(options) - {"prefix", *TLS_OPTIONS}
    if unknown:
        raise _bad_url(where, f"unknown option(s) {', '.join(sorted(unknown))}")
    try:
        tls_given = tls_options(options, tls=tls)
    except TlsProblemError as exc:
        raise StoreUnreachableError(
            where, f"is not a usable Redis URL ({exc.problem})", exc.fix
        ) from None
    return options.get("prefix", [DEFAULT_PREFIX])[-1], tls_given


def _parse_multi(url: str, scheme: str) -> RedisLocation:
    """A ``redis[s]+sentinel://`` or ``redis[s]+cluster://`` URL: several HOST:PORT,
    comma-separated (`urlsplit` reads one host only)."""
    rest, _, query = url.partition("://")[2].partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, _, hosts = netloc.rpartition("@")
    where = f"{scheme}://{hosts}"
    nodes = tuple(_host_port(item, where) for item in hosts.split(",") if item)
    if not nodes:
        raise _bad_url(where, "it needs at least one HOST:PORT")
    topology, tls = _MULTI_SCHEMES[scheme]
    service, db = _service_and_db(path, topology, where)
    username, _, password_text = userinfo.partition(":") if userinfo else ("", "", "")
    password = unquote(password_text) if password_text else os.environ.get(PASSWORD_ENV)
    prefix, tls_given = _query_options(query, where, tls=tls)
    return RedisLocation(
        host=nodes[0][0],
        port=nodes[0][1],
        db=db,
        tls=tls,
        username=unquote(username) or None,
        password=password or None,
        prefix=hash_tagged(prefix) if topology == "cluster" else prefix,
        topology=topology,
        nodes=nodes,
        service=service,
        tls_options=tls_given,
    )


def _host_port(item: str, where: str) -> tuple[str, int]:
    host, _, port_text = item.rpartition(":")
    if not host or not port_text.isdigit():
        raise _bad_url(where, f"each node must be HOST:PORT, not {item!r}")
    return host, int(port_text)


def _service_and_db(path: str, topology: str, where: str) -> tuple[str | None, int]:
    segments = [segment for segment in path.split("/") if segment]
    if topology == "cluster":
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
