"""A real `llminst serve` answers every bad line (tests/support/wire.py) with its JSON-RPC error:
in order on raw stdio, and with HTTP 400 over streamable HTTP; serving goes on.

Regression (issue 10): such lines got no answer at all (the SDK dropped them), so the client
waited forever. The decoding itself: tests/server/test_wire.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import trio

from ..support.serve import handshake, http_server, raw_stdio_server, tree_config
from ..support.wire import BAD_LINES, call_line


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
            await proc.stdin.send_all(b"".join(bad) + b"\n  \n" + call_line(99, "still here"))
            messages = await _read_messages(proc.stdout, len(bad) + 1)
    errors, answer = messages[:-1], messages[-1]
    assert [(m["id"], m["error"]["code"]) for m in errors] == [(i, c) for _, c, i, _ in BAD_LINES]
    assert answer["id"] == 99 and answer["result"]["content"][0]["text"] == "still here"
    logged = stderr_path.read_text()
    assert logged.count("llminst.stdio.rejected") == len(bad), logged


async def test_http_answers_the_same_bad_bodies_with_the_same_errors(tmp_path: Path) -> None:
    """Over streamable HTTP each bad body gets HTTP 400 with the error stdio gives (code, id,
    message), and the session keeps serving.

    Regression: the SDK answered a lone surrogate as a parse error without the id, an array, a
    number or a bad method as -32602 with pydantic's text, deep nesting with a 500, and took a
    null or boolean id for a notification (202, never answered).
    """
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    initialize, _ = handshake()
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
        valid = await http.post(url, content=call_line(99, "still here"), headers=session)
    for (line, code, request_id, words), answer in zip(BAD_LINES, answers, strict=True):
        assert answer.status_code == 400, (line[:80], answer.status_code, answer.text[:200])
        error = answer.json()
        assert (error["id"], error["error"]["code"]) == (request_id, code), (line[:80], error)
        assert words.replace("the line", "the body") in error["error"]["message"], error
    assert oversized.status_code == 413  # the SDK's own limit still applies, before decoding
    assert valid.status_code == 200 and '"text":"still here"' in valid.text
