"""Serving the MCP server: stdio with trio-native streams, and streamable HTTP on hypercorn/trio.

stdio: the SDK's default transport reads stdin in a worker thread that trio cannot abandon, so a
signal would leave the server hanging until the client closes stdin. Here fds 0 and 1 are read
and written with `trio.lowlevel.FdStream` on private duplicates, while fd 0 is pointed at
/dev/null and fd 1 at stderr so a stray print (ours or a library's) never corrupts the protocol.
The lines themselves go through `wire`, which answers every line that is not a message.

HTTP: the SDK's Starlette app served by hypercorn's trio worker (uvicorn is asyncio-only),
optionally behind a bearer token compared in constant time; DNS-rebinding protection stays on
(``--allow-host`` names are accepted on any port, ``NAME:PORT`` on that port). The listening
socket is bound before anything else starts, so an address that cannot be listened on is one
clear `InvalidInputError`, never a traceback from inside the server.
A call whose client drops its connection is cancelled, on either protocol era (see
`cancel_on_disconnect`).

Both serve until they are cancelled (`llminst serve` cancels them on SIGINT, SIGTERM or SIGHUP,
see `llminst.signals`): the lifespan then closes the supervisor, which kills every running
process tree before the process exits. This module never installs signal handlers itself.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hmac
import ipaddress
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any, cast

import trio
from attrs import frozen
from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from .errors import InvalidInputError
from .logs import get_logger
from .wire import open_message_streams

__all__ = [
    "HttpListening",
    "cancel_on_disconnect",
    "check_http_binding",
    "check_http_options",
    "check_port",
    "host_patterns",
    "require_bearer",
    "serve_http",
    "serve_stdio",
]

_log = get_logger()
Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


# --------------------------------------------------------------------------------------------
# stdio


class _LineReader:
    """The async iterator of request lines (bytes, each with its newline) from stdin."""

    def __init__(self, stream: trio.lowlevel.FdStream) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self._scanned = 0  # bytes known to hold no newline: a huge line stays O(n)

    def __aiter__(self) -> _LineReader:
        return self

    async def __anext__(self) -> bytes:
        # Bytes, not text: decoding is the wire's job, which refuses what is not UTF-8
        # instead of replacing it (a prompt must arrive byte for byte or not at all).
        while True:
            end = self._buffer.find(b"\n", self._scanned)
            if end >= 0:
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                self._scanned = 0
                return line
            self._scanned = len(self._buffer)
            data = await self._stream.receive_some(65536)
            if not data:
                if self._buffer:
                    line = bytes(self._buffer)
                    self._buffer.clear()
                    self._scanned = 0
                    return line
                raise StopAsyncIteration
            self._buffer += data


@contextlib.asynccontextmanager
async def _trio_stdio() -> AsyncIterator[tuple[Any, Any]]:
    wire_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    wire_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    saved_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    saved_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    try:
        async with (
            trio.lowlevel.FdStream(wire_in) as stdin,
            trio.lowlevel.FdStream(wire_out) as stdout,
            open_message_streams(_LineReader(stdin), stdout.send_all) as streams,
        ):
            yield streams
    finally:
        # Flush stray prints while fd 1 still points at stderr, or they would reach the wire.
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
        os.close(saved_in)
        os.close(saved_out)


async def serve_stdio(server: MCPServer) -> None:
    """Serve over stdin/stdout until the client closes stdin (or the caller cancels)."""
    lowlevel = server._lowlevel_server  # no public accessor in mcp 2.3
    async with _trio_stdio() as (read, write):
        await lowlevel.run(read, write, lowlevel.create_initialization_options())


# --------------------------------------------------------------------------------------------
# Streamable HTTP


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_http_binding(host: str, token: str | None) -> None:
    """Refuse to expose the server beyond this machine without a token.

    Raises:
        InvalidInputError: a non-loopback host without a token.
    """
    if not _is_loopback(host) and not token:
        raise InvalidInputError(
            f"refusing to listen on {host} without a token: anyone who can reach it could run "
            "commands through your LLM CLIs. Set --token (or LLMINST_HTTP_TOKEN), or bind to "
            "127.0.0.1"
        )


def require_bearer(app: ASGIApp, token: str) -> ASGIApp:
    """Wrap an ASGI app: HTTP requests without ``Authorization: Bearer <token>`` get 401."""
    expected = f"Bearer {token}".encode()

    async def guarded(
        scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if not hmac.compare_digest(headers.get(b"authorization", b""), expected):
                body = b'{"error": "unauthorized: send Authorization: Bearer <token>"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"www-authenticate", b'Bearer realm="llminst"'),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return guarded


def _request_id(body: bytes) -> str | int | None:
    """The id of the JSON-RPC request in a POST body, or None for anything else."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):  # not a message: the app answers it
        return None
    if isinstance(message, dict) and "method" in message:
        request_id = message.get("id")
        if isinstance(request_id, str | int) and not isinstance(request_id, bool):
            return request_id
    return None


def cancel_on_disconnect(app: ASGIApp) -> ASGIApp:
    """Wrap the SDK's app: a session's request is cancelled when its POST's client goes away.

    On the handshake-era wire (sessions, protocol 2025-11-25 and older) the SDK keeps a request
    running after the connection of its POST drops, so that a client may resume the stream from
    an event store. llminst keeps none: the answer could never be delivered, while the CLI would
    run on until its timeout. When the app sees ``http.disconnect`` before it finished the
    response, this posts the ``notifications/cancelled`` the client would have sent, with the
    same session headers, so the tool is cancelled and its process tree killed. (2026-07-28
    requests carry no session id: the SDK cancels those on disconnect itself.)
    """

    async def watched(
        scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        headers = dict(scope.get("headers") or [])
        if scope["type"] != "http" or scope["method"] != "POST" or b"mcp-session-id" not in headers:
            await app(scope, receive, send)
            return
        original = dict(scope)  # before the app's router annotates it
        body = bytearray()
        request_id: str | int | None = None
        dropped = answered = False

        async def receive_watched() -> Any:
            nonlocal request_id, dropped
            message = await receive()
            if message["type"] == "http.request":
                body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    request_id = _request_id(bytes(body))
                    body.clear()
            elif message["type"] == "http.disconnect":
                dropped = True
            return message

        async def send_watched(message: Any) -> None:
            nonlocal answered
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = True
            await send(message)

        await app(scope, receive_watched, send_watched)
        if dropped and not answered and request_id is not None:
            _log.info("llminst.http.client_dropped", request_id=request_id)
            await _post_cancellation(app, original, request_id)

    return watched


async def _post_cancellation(app: ASGIApp, scope: Scope, request_id: str | int) -> None:
    notice = {
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": request_id, "reason": "the client disconnected"},
    }
    data = json.dumps(notice).encode()
    headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
    headers.append((b"content-length", str(len(data)).encode()))
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": data, "more_body": False}

    async def discard(_message: Any) -> None:
        pass

    await app({**scope, "headers": headers}, receive, discard)


_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
_WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]", "")


def check_port(port: int) -> None:
    """Raises: InvalidInputError: `port` is not a TCP port (0 picks a free one)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidInputError(
            f"port {port!r} is not a TCP port: use 1-65535, or 0 to let the system pick a free "
            "one (--port)"
        )


def host_patterns(value: str) -> list[str]:
    """The Host header values an ``--allow-host`` value accepts, as the SDK matches them.

    A bare name or address accepts it on any port (``myhost`` -> ``myhost`` and ``myhost:*``;
    clients send ``Host: myhost:PORT``); ``myhost:8080`` accepts that port only. IPv6 addresses
    are bracketed as in a Host header. Names are compared lower-cased.

    Raises:
        InvalidInputError: a URL, a path, an empty value or a bad port.
    """
    text = value.strip().lower()
    if not text or "/" in text or "@" in text or any(c.isspace() for c in text):
        raise InvalidInputError(
            f"--allow-host {value!r} is not a host: give a name or address, optionally with "
            ":PORT (myhost, myhost:8765, 192.0.2.7, [2001:db8::7]), not a URL"
        )
    if text.count(":") > 1 and not text.startswith("["):
        return [f"[{text}]", f"[{text}]:*"]  # a bare IPv6 address
    _, colon, port = text.rpartition(":") if not text.endswith("]") else ("", "", "")
    if not colon:
        return [text, f"{text}:*"]
    if port != "*" and not (port.isdigit() and 0 < int(port) <= 65535):
        raise InvalidInputError(
            f"--allow-host {value!r}: {port!r} is not a port; use NAME:PORT with a port of "
            "1-65535, or the bare NAME for any port"
        )
    return [text]


def _transport_security(host: str, allowed_hosts: list[str]) -> TransportSecuritySettings:
    names = [*_LOCAL_HOSTS, *allowed_hosts]
    if not _is_loopback(host) and host not in _WILDCARD_HOSTS:
        names.append(host)  # the address it was told to bind
    hosts = [pattern for name in names for pattern in host_patterns(name)]
    origins = [f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


@frozen
class HttpListening:
    """What `serve_http` reports once it listens (through ``task_status.started``).

    Attributes:
        urls: the MCP endpoint of each bound address, ``http://127.0.0.1:PORT/mcp`` (the port
            actually bound, also with port 0).
        token_required: requests must carry ``Authorization: Bearer <token>``.
        host_names: the Host header names accepted (DNS-rebinding protection), without ports.
    """

    urls: tuple[str, ...]
    token_required: bool
    host_names: tuple[str, ...]


def check_http_options(
    host: str, port: int, token: str | None, allowed_hosts: list[str] | None = None
) -> None:
    """Check the HTTP options before anything starts (`serve_http` calls it too).

    Raises:
        InvalidInputError: a non-loopback host without a token, a bad port, a bad
            ``--allow-host`` value.
    """
    check_port(port)
    check_http_binding(host, token)
    for value in allowed_hosts or []:
        host_patterns(value)


async def serve_http(
    server: MCPServer,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    allowed_hosts: list[str] | None = None,
    task_status: trio.TaskStatus[HttpListening] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve streamable HTTP at ``/mcp`` until cancelled.

    The port is bound before anything else starts; `task_status.started` then reports where it
    listens (`HttpListening`).

    Raises:
        InvalidInputError: bad options (see `check_http_options`), or the address cannot be
            listened on (port in use, a name that does not resolve, an address of another
            machine, a privileged port); the message says which and what to do.
    """
    from hypercorn.config import Config
    from hypercorn.trio.run import worker_serve
    from hypercorn.utils import wrap_app

    check_http_options(host, port, token, allowed_hosts)
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    # Idle keep-alive connections would hold shutdown for the whole grace period.
    config.graceful_timeout = 0.2
    security = _transport_security(host, allowed_hosts or [])
    app: ASGIApp = server.streamable_http_app(host=host, transport_security=security)
    app = cancel_on_disconnect(app)
    if token:
        app = require_bearer(app, token)
    wrapped = wrap_app(cast(Any, app), config.wsgi_max_body_size, "asgi")
    sockets = _listen(config, host, port)  # hypercorn serves (and closes) them from here on
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(
            functools.partial(worker_serve, sockets=sockets), wrapped, config
        )
        listening = HttpListening(
            urls=tuple(f"{bind}/mcp" for bind in binds),
            token_required=bool(token),
            host_names=tuple(h for h in security.allowed_hosts if not h.endswith(":*")),
        )
        _log.info("llminst.server.listening", urls=listening.urls, auth=bool(token))
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
