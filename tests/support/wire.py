"""Lines that are not JSON-RPC messages, each with the error the spec gives it.

`BAD_LINES` holds (line, code, request id or None, words the message must hold); `call_line`
is a valid ``tools/call`` line for the echo model (a prompt with a lone surrogate stays escaped,
as ASCII JSON).
"""

from __future__ import annotations

import json

PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS = -32700, -32600, -32602


def call_line(request_id: int, prompt: str = "fine") -> bytes:
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
    (call_line(5, "x\ud800y"), INVALID_PARAMS, 5, "params.arguments.prompt holds text"),
    (call_line(6, "\udfff"), INVALID_PARAMS, 6, "lone surrogate"),
    (call_line(7).replace(b"fine", b"f\xffne"), INVALID_PARAMS, 7, "not UTF-8"),
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
