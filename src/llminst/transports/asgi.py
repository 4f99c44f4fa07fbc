"""The ASGI wrappers llminst puts around the SDK's streamable-HTTP app.

Owns three rules: ``GET /healthz`` answers 200 without a token (for load balancers' and
Kubernetes' probes; it says nothing about calls), an HTTP request without
``Authorization: Bearer <token>`` gets 401 (compared in constant time; an accepted one carries its
token's owner fingerprint in its scope), and a session's request whose client drops its
connection is cancelled, so its process tree is killed. Each wrapper only looks at the ASGI
messages passing through and hands them on unchanged; it must never bind a socket, parse a
tool's arguments or answer a request the app should answer (beyond the health check and the 401).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from .._core.records import token_owner
from ..logs import get_logger

__all__ = [
    "HEALTH_PATH",
    "OWNER_SCOPE_KEY",
    "ASGIApp",
    "Scope",
    "answer_health",
    "cancel_on_disconnect",
    "require_bearer",
]

HEALTH_PATH = "/healthz"
"""Answered 200 without a token: a probe can tell the server is up and serving HTTP."""

OWNER_SCOPE_KEY = "llminst.owner"
"""The ASGI scope key holding the owner (token fingerprint) of an authenticated request."""

_log = get_logger()
Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


def require_bearer(app: ASGIApp, token: str | Sequence[str]) -> ASGIApp:
    """Wrap an ASGI app: HTTP requests without ``Authorization: Bearer <token>`` (one of the
    tokens) get 401; an accepted request's scope gets the token's owner fingerprint under
    `OWNER_SCOPE_KEY` (read by `server.owners`), so a client sees only the calls its token
    started."""
    tokens = [token] if isinstance(token, str) else list(token)
    expected = [(f"Bearer {t}".encode(), token_owner(t)) for t in tokens]

    def owner_of(sent: bytes) -> str | None:
        owner = None
        for header, fingerprint in expected:  # every one compared: no early exit to time
            if hmac.compare_digest(sent, header):
                owner = fingerprint
        return owner

    async def guarded(
        scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            owner = owner_of(headers.get(b"authorization", b""))
            scope[OWNER_SCOPE_KEY] = owner
            if owner is None:
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


def answer_health(app: ASGIApp) -> ASGIApp:
    """Wrap an ASGI app: ``GET``/``HEAD`` `HEALTH_PATH` gets 200 ``{"status": "ok"}`` before any
    other rule (probes carry no token); every other request goes to `app` unchanged."""
    body = b'{"status": "ok"}'

    async def checked(
        scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        if (
            scope["type"] != "http"
            or scope.get("path") != HEALTH_PATH
            or scope["method"] not in ("GET", "HEAD")
        ):
            await app(scope, receive, send)
            return
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": body if scope["method"] == "GET" else b""}
        )

    return checked


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
