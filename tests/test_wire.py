"""The raw wire answers every bad message: pure decoding, a real `llminst serve` on raw stdio, and
the same bodies over streamable HTTP.

Regression (issue 10): a request line that was not JSON, or whose JSON held a lone surrogate, got
no answer at all (the SDK dropped it), so the client waited forever; bytes that are not UTF-8
were silently replaced with U+FFFD, changing the prompt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCNotification, JSONRPCRequest

from llminst.wire import Rejection, decode_message

from .support.serve import http_server, raw_stdio_server, tree_config

PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS = -32700, -32600, -32602


def _call(request_id: int, prompt: str = "fine") -> bytes:
    """A tools/call line; a prompt holding a lone surrogate stays escaped (ASCII JSON)."""
    arguments = {"model": "echo", "prompt": prompt}
    message = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "execute_llm", "arguments": arguments},
    }
    return json.dumps(message).encode() + b"\n"


# (line, code, id, words the message must hold)
BAD_LINES: list[tuple[bytes, int, int | str | None, str]] = [
    (b"this is not json\n", PARSE_ERROR, None, "Parse error: the line is not JSON"),
    (b'{"jsonrpc": "2.0", "id": 3, "method": \n', PARSE_ERROR, None, "Parse error"),
    (b"[" * 100_000 + b"]" * 100_000 + b"\n", PARSE_ERROR, None, "nests too deeply"),
    (b"[1, 2]\n", INVALID_REQUEST, None, "batches are not supported"),
    (b"42\n", INVALID_REQUEST, None, "Invalid Request: the line is not an object"),
    (b'"ping"\n', INVALID_REQUEST, None, "not an object"),
    (_call(5, "x\ud800y"), INVALID_PARAMS, 5, "params.arguments.prompt holds text"),
    (_call(6, "\udfff"), INVALID_PARAMS, 6, "lone surrogate"),
    (_call(7).replace(b"fine", b"f\xffne"), INVALID_PARAMS, 7, "not UTF-8"),
    (
        b'{"jsonrpc": "2.0", "id": "s", "method": "x\\ud800"}\n',
        INVALID_REQUEST,
        "s",
        "method holds text that is not Unicode",
    ),
    (b'{"jsonrpc": "2.0", "id": 8, "method": 5}\n', INVALID_REQUEST, 8, "method: Input should"),
    (b'{"jsonrpc": "2.0", "id": 9}\n', INVALID_REQUEST, 9, "the object has no method"),
    (b'{"id": 10, "method": "ping"}\n', INVALID_REQUEST, 10, "jsonrpc: Field required"),
    (b'{"jsonrpc": "2.0", "id": true, "method": "ping"}\n', INVALID_REQUEST, None, "got true"),
    (b'{"jsonrpc": "2.0", "id": null, "method": "ping"}\n', INVALID_REQUEST, None, "got null"),
    (b'{"jsonrpc": "2.0", "id": 1.5, "method": "ping"}\n', INVALID_REQUEST, None, "got 1.5"),
]


@pytest.mark.parametrize(("line", "code", "request_id", "words"), BAD_LINES)
def test_a_bad_line_is_rejected_with_the_spec_error(
    line: bytes, code: int, request_id: int | str | None, words: str
) -> None:
    """Each bad line maps to the JSON-RPC code the spec gives, the id when one is known, and a
    message starting with the spec's name for the error."""
    rejection = decode_message(line)
    assert isinstance(rejection, Rejection), rejection
    assert (rejection.code, rejection.request_id) == (code, request_id)
    assert words in rejection.message, rejection.message
    assert rejection.message.split(":")[0] in {"Parse error", "Invalid Request", "Invalid params"}
    response = rejection.response().message.model_dump(by_alias=True, exclude_unset=True)
    assert response["id"] == request_id and response["error"]["code"] == code


def test_valid_lines_decode_as_the_sdk_would() -> None:
    """A valid request, a notification, non-ASCII text and a surrogate pair pass unchanged."""
    request = decode_message(_call(1, "héllo \U0001f600"))
    escaped = decode_message(_call(2, "\U0001f600"))  # json.dumps escapes it as a surrogate pair
    notice = decode_message(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}')
    with_id_inside = decode_message(
        b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"id"}}\n'
    )
    assert isinstance(request, SessionMessage) and isinstance(request.message, JSONRPCRequest)
    assert request.message.params["arguments"]["prompt"] == "héllo \U0001f600"  # type: ignore[index]
    assert isinstance(escaped, SessionMessage)
    assert escaped.message.params["arguments"]["prompt"] == "\U0001f600"  # type: ignore[union-attr,index]
    assert isinstance(notice, SessionMessage) and isinstance(notice.message, JSONRPCNotification)
    assert isinstance(with_id_inside, SessionMessage)


@given(st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8")))
def test_any_line_decodes_or_is_rejected(line: bytes) -> None:
    """No line makes the decoder raise: it is a message or a rejection that can be sent."""
    decoded = decode_message(line)
    if isinstance(decoded, Rejection):
        decoded.response().message.model_dump_json(by_alias=True, exclude_unset=True)
    else:
        assert isinstance(decoded, SessionMessage)


# --------------------------------------------------------------------------------------------
# Over a real `llminst serve`


async def _read_messages(stdout: trio.abc.ReceiveStream, count: int) -> list[dict[str, Any]]:
    buffer = b""
    messages: list[dict[str, Any]] = []
    with trio.fail_after(60):
        while len(messages) < count:
            data = await stdout.receive_some(65536)
            assert data, f"the server closed stdout after {messages}"
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                message = json.loads(line)
                if message.get("method") != "notifications/progress":
                    messages.append(message)
    return messages


async def test_serve_answers_every_bad_line_and_keeps_serving(tmp_path: Path) -> None:
    """Over raw stdio each bad line gets its JSON-RPC error in order, is logged to stderr, and a
    valid call sent afterwards is still answered."""
    config, _ = tree_config(tmp_path)
    stderr_path = tmp_path / "stderr.log"
    bad = [line for line, *_ in BAD_LINES]
    with stderr_path.open("wb") as stderr:
        async with raw_stdio_server(config, stderr=stderr) as proc:
            assert proc.stdin is not None and proc.stdout is not None
            await proc.stdin.send_all(b"".join(bad) + b"\n  \n" + _call(99, "still here"))
            messages = await _read_messages(proc.stdout, len(bad) + 1)
    errors, answer = messages[:-1], messages[-1]
    assert [(m["id"], m["error"]["code"]) for m in errors] == [(i, c) for _, c, i, _ in BAD_LINES]
    assert answer["id"] == 99 and answer["result"]["content"][0]["text"] == "still here"
    logged = stderr_path.read_text()
    assert logged.count("llminst.stdio.rejected") == len(bad), logged


# --------------------------------------------------------------------------------------------
# The same bodies over HTTP


async def test_http_answers_the_same_bad_bodies_with_the_same_errors(tmp_path: Path) -> None:
    """Over streamable HTTP each bad body gets HTTP 400 with the error stdio gives (code, id,
    message), and the session keeps serving.

    Regression: the SDK answered a lone surrogate as a parse error without the id, an array, a
    number or a bad method as -32602 with pydantic's text, deep nesting with a 500, and took a
    null or boolean id for a notification (202, never answered).
    """
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }
    async with http_server(tmp_path) as (url, _), httpx2.AsyncClient(timeout=60) as http:
        started = await http.post(url, json=initialize, headers=headers)
        session = {
            **headers,
            "mcp-session-id": started.headers["mcp-session-id"],
            "mcp-protocol-version": "2025-11-25",
        }
        await http.post(
            url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session
        )
        answers = [await http.post(url, content=line, headers=session) for line, *_ in BAD_LINES]
        oversized = await http.post(url, content=b"x" * (4 * 1024 * 1024 + 1), headers=session)
        valid = await http.post(url, content=_call(99, "still here"), headers=session)
    for (line, code, request_id, words), answer in zip(BAD_LINES, answers, strict=True):
        assert answer.status_code == 400, (line[:80], answer.status_code, answer.text[:200])
        error = answer.json()
        assert (error["id"], error["error"]["code"]) == (request_id, code), (line[:80], error)
        assert words.replace("the line", "the body") in error["error"]["message"], error
    assert oversized.status_code == 413  # the SDK's own limit still applies, before decoding
    assert valid.status_code == 200 and '"text":"still here"' in valid.text
