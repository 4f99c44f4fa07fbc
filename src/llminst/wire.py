"""The raw wire: every message a client sends is decoded once here, and every bad one answered.

Left to the SDK, a stdio line it cannot parse is handed to the server as an exception and
dropped (the client waits forever); over HTTP the same bodies got pydantic's text as -32602, a
500 for deep nesting, or a silent 202 for a boolean id. Here each line or body is decoded by
`decode_message` (pure), and one that is not a JSON-RPC message gets the error response JSON-RPC 2.0
prescribes, is logged, and serving goes on:

- not JSON (or nested too deeply): -32700 Parse error, id null;
- JSON but not one message object (an array, a number, an object without a method, an id that
  is null, a boolean or a fraction ...): -32600 Invalid Request, with the id when it is valid;
- a request whose params hold text that is not Unicode (a lone surrogate escape such as
  ``"\\ud800"``, or bytes that are not UTF-8): -32602 Invalid params, with its id.

Two thin shells use it: `open_message_streams` (stdio: lines in, one line per message out) and
`AnswerMalformedMessages` (ASGI middleware before the SDK's streamable HTTP endpoint). Neither
owns descriptors or sockets, and nothing here looks at what a valid message means.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any, Final

import anyio
from attrs import frozen
from mcp.shared.message import SessionMessage
from mcp_types import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    ErrorData,
    JSONRPCError,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
    jsonrpc_message_adapter,
)
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logs import get_logger

__all__ = [
    "AnswerMalformedMessages",
    "MessageLines",
    "MessageWriter",
    "Rejection",
    "decode_message",
    "open_message_streams",
]

_log = get_logger()

RequestId = str | int


@frozen
class Rejection:
    """A line that is not a message the server can dispatch, and the error that answers it."""

    code: int
    message: str
    request_id: RequestId | None = None

    def response(self) -> SessionMessage:
        error = ErrorData(code=self.code, message=self.message)
        return SessionMessage(JSONRPCError(jsonrpc="2.0", id=self.request_id, error=error))


_PARSE: Final = "Parse error"
_INVALID_REQUEST: Final = "Invalid Request"
_INVALID_PARAMS: Final = "Invalid params"


def decode_message(data: bytes, *, unit: str = "line") -> SessionMessage | Rejection:
    """The message `data` holds, or the rejection to answer it with.

    Valid data takes one pass of the SDK's own validator; only data that fails it is parsed
    again, leniently, to find out why and which id to answer.

    Args:
        data: one stdio line or one HTTP body.
        unit: what `data` is, for the messages (``"line"``, ``"body"``).
    """
    try:
        message = jsonrpc_message_adapter.validate_json(data, by_name=False)
    except ValidationError:
        return _diagnose(data, unit)
    if isinstance(message, JSONRPCNotification) and b'"id"' in data:
        # The SDK reads a request whose id is null or a boolean as a notification, which
        # would never be answered.
        rejection = _diagnose(data, unit)
        if isinstance(rejection, Rejection):
            return rejection
    return SessionMessage(message)


def _diagnose(data: bytes, unit: str) -> SessionMessage | Rejection:
    fix = f"send one JSON-RPC 2.0 message object per {unit}"
    try:
        value = json.loads(data.decode("utf-8", "surrogateescape"))
    except (ValueError, RecursionError) as exc:
        reason = "it nests too deeply" if isinstance(exc, RecursionError) else str(exc)
        return Rejection(PARSE_ERROR, f"{_PARSE}: the {unit} is not JSON ({reason}); {fix}")
    if not isinstance(value, dict):
        kind = (
            "an array (batches are not supported)" if isinstance(value, list) else "not an object"
        )
        return Rejection(INVALID_REQUEST, f"{_INVALID_REQUEST}: the {unit} is {kind}; {fix}")
    raw_id = value.get("id")
    request_id = raw_id if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
    if "id" in value and request_id is None:
        return Rejection(
            INVALID_REQUEST,
            f"{_INVALID_REQUEST}: id must be a string or an integer, got {json.dumps(raw_id)}",
        )
    surrogate = _find_surrogate(value, "")
    if surrogate is not None:
        in_params = surrogate.startswith("params") and request_id is not None
        return Rejection(
            INVALID_PARAMS if in_params else INVALID_REQUEST,
            f"{_INVALID_PARAMS if in_params else _INVALID_REQUEST}: {surrogate or 'a key'} holds "
            "text that is not Unicode (a lone surrogate escape such as \\ud800, or bytes that "
            "are not UTF-8); send UTF-8 text, with characters beyond U+FFFF as surrogate pairs",
            request_id,
        )
    return _validate_shape(value, request_id, fix)


def _validate_shape(
    value: dict[str, Any], request_id: RequestId | None, fix: str
) -> SessionMessage | Rejection:
    if not {"method", "result", "error"} & value.keys():
        return Rejection(
            INVALID_REQUEST,
            f"{_INVALID_REQUEST}: the object has no method (nor the result or error of a "
            f"response); {fix}",
            request_id,
        )
    try:
        # The shape the sender meant first, so the error names its field, not the union's.
        _intended_shape(value).model_validate(value, by_name=False)
        return SessionMessage(jsonrpc_message_adapter.validate_python(value, by_name=False))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "the message"
        return Rejection(
            INVALID_REQUEST,
            f"{_INVALID_REQUEST}: {where}: {first['msg']}; {fix} "
            '(jsonrpc "2.0", a method, and an id for a request)',
            request_id,
        )


def _intended_shape(value: dict[str, Any]) -> type[BaseModel]:
    if "method" in value:
        return JSONRPCRequest if "id" in value else JSONRPCNotification
    return JSONRPCError if "error" in value else JSONRPCResponse


def _find_surrogate(value: object, path: str) -> str | None:
    """The path of the first string (or key) holding a lone surrogate, or None."""
    pending: list[tuple[object, str]] = [(value, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, str):
            if _has_surrogate(item):
                return where
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else str(key)
                if _has_surrogate(key):
                    return where or "a key"
                pending.append((child, child_path))
        elif isinstance(item, list):
            pending.extend((child, f"{where}[{i}]") for i, child in enumerate(item))
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# --------------------------------------------------------------------------------------------
# stdio


@contextlib.asynccontextmanager
async def open_message_streams(
    lines: AsyncIterable[bytes], write: Callable[[bytes], Awaitable[None]]
) -> AsyncIterator[tuple[MessageLines, MessageWriter]]:
    """The (read, write) message streams the SDK's server runs on, over lines of bytes.

    No task of their own: a line is read and decoded in the task that asks the read stream
    for the next message, and a message is written in the task that sends it (a task hop each
    way cost a trip through the scheduler per message). A rejected line is answered through
    `write`, in order with the server's own messages. On leaving, both streams are closed.

    Args:
        lines: the request lines, each ending in a newline (the last one may not).
        write: sends one whole response line; it must keep lines whole and in the order of
            the calls when several tasks write at once.
    """
    writer = MessageWriter(write)
    reader = MessageLines(lines, writer)
    try:
        yield reader, writer
    finally:
        await reader.aclose()
        await writer.aclose()


class MessageWriter:
    """The SDK's write stream over lines: each message is written as one JSON line."""

    def __init__(self, write: Callable[[bytes], Awaitable[None]]) -> None:
        self._write = write
        self._closed = False

    async def send(self, session_message: SessionMessage, /) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        text = session_message.message.model_dump_json(by_alias=True, exclude_unset=True)
        await self._write(text.encode("utf-8") + b"\n")

    async def aclose(self) -> None:
        self._closed = True

    async def __aenter__(self) -> MessageWriter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class MessageLines:
    """The SDK's read stream over lines: the next message, decoded when it is asked for; a
    line that is not a message is answered (and logged) and skipped, a blank one skipped."""

    def __init__(self, lines: AsyncIterable[bytes], answers: MessageWriter) -> None:
        self._lines = aiter(lines)
        self._answers = answers
        self._closed = False

    async def receive(self) -> SessionMessage | Exception:
        while True:
            if self._closed:
                raise anyio.ClosedResourceError
            try:
                line = await anext(self._lines)
            except StopAsyncIteration:
                raise anyio.EndOfStream from None
            if line.isspace():
                continue  # a blank line is not a message: nothing to answer
            decoded = decode_message(line)
            if not isinstance(decoded, Rejection):
                return decoded
            _log.warning(
                "llminst.stdio.rejected",
                code=decoded.code,
                request_id=decoded.request_id,
                reason=decoded.message,
                line_bytes=len(line),
            )
            await self._answers.send(decoded.response())

    def __aiter__(self) -> MessageLines:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self._closed = True

    async def __aenter__(self) -> MessageLines:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


# --------------------------------------------------------------------------------------------
# Streamable HTTP


class AnswerMalformedMessages:
    """ASGI middleware: a POST to the MCP endpoint whose body `decode_message` rejects is answered
    with HTTP 400 and that JSON-RPC error; every other request reaches the app unchanged.

    A body over `max_body_size` is passed on unread past the limit, for the app to refuse (413).
    """

    def __init__(self, app: ASGIApp, *, path: str, max_body_size: int) -> None:
        self.app = app
        self.path = path
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        body, replay = await self._read_body(receive)
        if body is not None and (rejection := _rejection_of(body)) is not None:
            _log.warning(
                "llminst.http.rejected",
                code=rejection.code,
                request_id=rejection.request_id,
                reason=rejection.message,
                body_bytes=len(body),
            )
            await _send_json(
                send,
                400,
                rejection.response().message.model_dump_json(by_alias=True, exclude_unset=True),
            )
            return
        await self.app(scope, replay, send)

    async def _read_body(self, receive: Receive) -> tuple[bytes | None, Receive]:
        """The whole body (None when it is over the limit or cut short), and a receive that
        replays what was read before continuing with the client's."""
        read: list[Message] = []
        size = 0
        complete = False
        while not complete and size <= self.max_body_size:
            message = await receive()
            read.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            complete = not message.get("more_body", False)

        async def replay() -> Message:
            return read.pop(0) if read else await receive()

        if not complete or size > self.max_body_size:
            return None, replay
        return b"".join(m.get("body", b"") for m in read), replay


def _rejection_of(body: bytes) -> Rejection | None:
    decoded = decode_message(body, unit="body")
    return decoded if isinstance(decoded, Rejection) else None


async def _send_json(send: Send, status: int, text: str) -> None:
    data = text.encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
