"""Serving MCP over streamable HTTP: the SDK's Starlette app on hypercorn's trio worker.

uvicorn is asyncio-only, so hypercorn serves the app, wrapped (see `asgi`) to answer health
probes at ``/healthz``, to cancel a call whose client goes away and, with a token, to refuse
requests without it; DNS-rebinding
protection stays on (see `http_options`). The listening socket is bound before anything else
starts, so an address that cannot be listened on is one clear `InvalidInputError`, never a
traceback from inside the server.

This module owns binding and serving; it must never decide which options are acceptable (that is
`http_options`), look inside requests (that is `asgi`) or print: it reports where it listens
through ``task_status.started`` and a log event.
"""

from __future__ import annotations

import errno
import functools
import socket
from collections.abc import Sequence
from typing import Any, cast

import trio
from attrs import frozen
from mcp.server import MCPServer

from .._core.errors import InvalidInputError
from ..logs import get_logger
from .asgi import ASGIApp, answer_health, cancel_on_disconnect, require_bearer
from .http_options import check_http_options, transport_security

__all__ = ["HttpListening", "serve_http"]

_log = get_logger()


@frozen
class HttpListening:
    """What `serve_http` reports once it listens (through ``task_status.started``).

    Attributes:
        urls: the MCP endpoint of each bound address, ``http://127.0.0.1:PORT/mcp`` (the port
            actually bound, also with port 0).
        token_required: requests must carry ``Authorization: Bearer <token>``.
        host_names: the Host header names accepted (DNS-rebinding protection), without ports.
        stateless: no MCP session is kept between requests (any replica answers any request).
    """

    urls: tuple[str, ...]
    token_required: bool
    host_names: tuple[str, ...]
    stateless: bool = False


async def serve_http(
    server: MCPServer,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | Sequence[str] | None = None,
    allowed_hosts: list[str] | None = None,
    stateless: bool = False,
    task_status: trio.TaskStatus[HttpListening] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve streamable HTTP at ``/mcp`` until cancelled.

    The port is bound before anything else starts; `task_status.started` then reports where it
    listens (`HttpListening`). `token` may be several tokens: a client sees only the calls
    its own token started (`server.owners`).

    `stateless` serves handshake-era clients (protocol 2025-11-25 and older) the SDK's stateless
    way too: no ``Mcp-Session-Id``, each POST served on its own, so replicas behind a load
    balancer need no sticky sessions. 2026-07-28 requests are self-contained either way.

    Cancellation: the server stops listening and its lifespan closes its supervisor, which
    kills and reaps every running call's process tree; then the cancellation propagates.

    Raises:
        InvalidInputError: bad options (see `check_http_options`), or the address cannot be
            listened on (port in use, a name that does not resolve, an address of another
            machine, a privileged port); the message says which and what to do.
    """
    from hypercorn.config import Config
    from hypercorn.trio.run import worker_serve
    from hypercorn.utils import wrap_app

    tokens = [token] if isinstance(token, str) else list(token or ())
    if any(not t for t in tokens):
        raise InvalidInputError("an HTTP token must not be empty (--token)")
    check_http_options(host, port, next(iter(tokens), None), allowed_hosts)
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    # Idle keep-alive connections would hold shutdown for the whole grace period.
    config.graceful_timeout = 0.2
    security = transport_security(host, allowed_hosts or [])
    app: ASGIApp = server.streamable_http_app(
        host=host, transport_security=security, stateless_http=stateless
    )
    app = cancel_on_disconnect(app)
    if tokens:
        app = require_bearer(app, tokens)
    app = answer_health(app)  # outermost: probes carry no token
    wrapped = wrap_app(cast(Any, app), config.wsgi_max_body_size, "asgi")
    sockets = _listen(config, host, port)  # hypercorn serves (and closes) them from here on
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            functools.partial(worker_serve, sockets=sockets), wrapped, config
        )
        listening = HttpListening(
            urls=tuple(f"{bind}/mcp" for bind in binds),
            token_required=bool(tokens),
            host_names=tuple(h for h in security.allowed_hosts if not h.endswith(":*")),
            stateless=stateless,
        )
        _log.info(
            "llminst.server.listening", urls=listening.urls, auth=len(tokens), stateless=stateless
        )
        task_status.started(listening)


def _listen(config: Any, host: str, port: int) -> Any:
    """Bind and listen on the configured address; errors say what is wrong and what to do."""
    try:
        sockets = config.create_sockets()
        for sock in sockets.insecure_sockets:
            sock.listen(config.backlog)
    except socket.gaierror as exc:
        raise InvalidInputError(
            f"cannot listen on {host!r}: the name does not resolve ({exc.strerror}). Pass an "
            "address of this machine (--host 127.0.0.1, or 0.0.0.0 for every interface)"
        ) from None
    except OSError as exc:
        raise InvalidInputError(_bind_failure(host, port, exc)) from None
    return sockets


def _bind_failure(host: str, port: int, exc: OSError) -> str:
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {where}: the port is already in use (another llminst serve?). "
            "Pick another --port, or --port 0 for a free one"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"cannot listen on {where}: {host} is not an address of this machine. Pass one of "
            "its addresses (--host), or 0.0.0.0 for every interface"
        )
    if exc.errno == errno.EACCES:
        return (
            f"cannot listen on {where}: no permission (ports below 1024 need privileges). "
            "Pick a port above 1023 (--port)"
        )
    return f"cannot listen on {where}: {exc.strerror or exc}"
