"""A fake Gemini API (generateContent and streamGenerateContent) for running the real gemini CLI.

Start it with `serve_gemini()`; point the CLI at it with ``GOOGLE_GEMINI_BASE_URL`` (see
`gemini_env`). It answers:

- ``POST /v1beta/models/M:generateContent``: the CLI's side requests (the model router's
  classifier, which asks for JSON matching its ``responseJsonSchema``; session titles) get JSON
  filled in from that schema, anything else a one-line text answer.
- ``POST /v1beta/models/M:streamGenerateContent?alt=sse``: the answer as SSE ``data:`` events.
- ``POST .../M:countTokens``: a token count.

What the main answer does is chosen by a marker in the prompt:

- none: success, answering ``fake-gemini says: <the prompt's first line>`` in a few chunks;
- ``[[fake:slow]]``: the same in ten chunks 0.3 s apart, so streaming is visible;
- ``[[fake:429]]``: HTTP 429 ``RESOURCE_EXHAUSTED`` with Google's ``RetryInfo`` (``retryDelay``
  ``"37s"``) and a daily ``QuotaFailure`` (the kind of quota the CLI does not retry);
- ``[[fake:429-once]]``: the same 429 (with a ``retryDelay`` of ``"1s"``) on the first streaming
  request of this server, success afterwards;
- ``[[fake:500]]``: HTTP 500 ``INTERNAL``;
- llminst's JSON-mode instructions (`schema_from_prompt` finds a schema): a JSON answer that
  validates against that schema.

Test code only: stdlib HTTP in a thread, bound to 127.0.0.1 on a free port.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from llminst._core.jsonmode import schema_from_prompt

__all__ = ["FakeGemini", "fill_schema", "gemini_env", "serve_gemini"]

MODEL_VERSION = "gemini-2.5-flash"
SLOW_CHUNKS = 10
SLOW_DELAY_S = 0.3
RETRY_DELAY = "37s"
ONCE_RETRY_DELAY = "1s"
_MARKER = re.compile(r"\[\[fake:([a-z0-9-]+)\]\]")


class FakeGemini:
    """The running server: its URL and every request it answered (path, parsed body)."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.failed_once: set[str] = set()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stream_requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return [body for path, body in self.requests if "streamGenerateContent" in path]


def gemini_env(fake: FakeGemini) -> dict[str, str]:
    """The variables that point the gemini CLI at `fake` with an API key."""
    return {"GEMINI_API_KEY": "fake-key", "GOOGLE_GEMINI_BASE_URL": fake.url}


@contextlib.contextmanager
def serve_gemini() -> Iterator[FakeGemini]:
    """Run a fake Gemini API on 127.0.0.1 (a free port) until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    fake = FakeGemini(server)
    server.fake = fake  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="fake-gemini", daemon=True
    )
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def fill_schema(schema: Any, hint: str = "", name: str = "") -> Any:
    """A value that validates against the simple schemas the CLIs and llminst ask for."""
    if not isinstance(schema, dict):
        return hint
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return fill_schema(schema[key][0], hint, name)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = kind[0] if kind else "object"
    kind = str(kind).lower()  # Gemini's own schemas spell types in capitals (OBJECT, STRING)
    if kind == "object":
        props = schema.get("properties") or {}
        return {key: fill_schema(sub, hint, key) for key, sub in props.items()}
    if kind == "array":
        return [fill_schema(schema.get("items"), hint, name)] * int(schema.get("minItems", 0))
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)  # the router's complexity score must be 1-100
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return f"{name}: {hint}" if name else hint


def _prompt_of(body: dict[str, Any]) -> str:
    """The last text part of the last user turn (the CLI puts its session context before it)."""
    for content in reversed(body.get("contents") or []):
        if content.get("role", "user") == "user":
            texts = [p["text"] for p in content.get("parts") or [] if p.get("text")]
            if texts:
                return str(texts[-1])
    return ""


def _first_line(prompt: str) -> str:
    plain = _MARKER.sub("", prompt).strip()
    return plain.splitlines()[0].strip() if plain else ""


def _answer_for(prompt: str) -> str:
    schema = schema_from_prompt(prompt)
    if schema is not None:
        return json.dumps(fill_schema(schema, _first_line(prompt)))
    return f"fake-gemini says: {_first_line(prompt)}"


def _chunks(text: str, count: int) -> list[str]:
    size = max(1, -(-len(text) // count))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _usage(prompt: str, answer: str) -> dict[str, int]:
    prompt_tokens = max(1, len(prompt) // 4)
    answer_tokens = max(1, len(answer) // 4)
    return {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": answer_tokens,
        "totalTokenCount": prompt_tokens + answer_tokens,
    }


def _candidate(text: str, *, final: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": [{"text": text}]},
        "index": 0,
    }
    if final:
        candidate["finishReason"] = "STOP"
    return candidate


def _error_429(retry_delay: str = RETRY_DELAY) -> dict[str, Any]:
    return {
        "error": {
            "code": 429,
            "message": (
                "You exceeded your current quota, please check your plan and billing details. "
                "For more information on this error, head to: "
                "https://ai.google.dev/gemini-api/docs/rate-limits. "
                f"Please retry in {retry_delay}."
            ),
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": (
                                "generativelanguage.googleapis.com/generate_content_free_tier_requests"
                            ),
                            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                            "quotaDimensions": {"location": "global", "model": MODEL_VERSION},
                            "quotaValue": "250",
                        }
                    ],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.Help",
                    "links": [
                        {
                            "description": "Learn more about Gemini API quotas",
                            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                        }
                    ],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
            ],
        }
    }


_ERROR_500 = {
    "error": {
        "code": 500,
        "message": "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
        "status": "INTERNAL",
    }
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-gemini/1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read `requests` instead

    @property
    def fake(self) -> FakeGemini:
        return self.server.fake  # type: ignore[attr-defined, no-any-return]

    def do_GET(self) -> None:
        self._send_json(
            404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}
        )

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        with self.fake.lock:
            self.fake.requests.append((self.path, body))
        if ":streamGenerateContent" in self.path:
            self._stream(body)
        elif ":generateContent" in self.path:
            self._generate(body)
        elif ":countTokens" in self.path:
            self._send_json(200, {"totalTokens": max(1, len(raw) // 4)})
        else:
            self._send_json(
                404, {"error": {"code": 404, "message": self.path, "status": "NOT_FOUND"}}
            )

    def _generate(self, body: dict[str, Any]) -> None:
        """Side requests: JSON per the requested schema, else a short text."""
        config = body.get("generationConfig") or {}
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        prompt = _prompt_of(body)
        if schema is not None or config.get("responseMimeType") == "application/json":
            text = json.dumps(fill_schema(schema or {}, "fake"))
        else:
            text = _answer_for(prompt)
        self._send_json(
            200,
            {
                "candidates": [_candidate(text, final=True)],
                "usageMetadata": _usage(prompt, text),
                "modelVersion": MODEL_VERSION,
            },
        )

    def _stream(self, body: dict[str, Any]) -> None:
        prompt = _prompt_of(body)
        modes = set(_MARKER.findall(prompt))
        if "429" in modes:
            self._send_json(429, _error_429())
            return
        if "429-once" in modes:
            with self.fake.lock:
                first = "429-once" not in self.fake.failed_once
                self.fake.failed_once.add("429-once")
            if first:
                self._send_json(429, _error_429(ONCE_RETRY_DELAY))
                return
        if "500" in modes:
            self._send_json(500, _ERROR_500)
            return
        answer = _answer_for(prompt)
        slow = "slow" in modes
        pieces = _chunks(answer, SLOW_CHUNKS if slow else 3)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for index, piece in enumerate(pieces):
            final = index == len(pieces) - 1
            event: dict[str, Any] = {
                "candidates": [_candidate(piece, final=final)],
                "modelVersion": MODEL_VERSION,
                "responseId": "fake-response-1",
            }
            if final:
                event["usageMetadata"] = _usage(prompt, answer)
            self.wfile.write(f"data: {json.dumps(event)}\r\n\r\n".encode())
            self.wfile.flush()
            if slow and not final:
                time.sleep(SLOW_DELAY_S)
        self.close_connection = True

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
