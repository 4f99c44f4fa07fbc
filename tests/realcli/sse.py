"""Small shared pieces for the fake LLM API servers the `realcli` tests run.

- `BackgroundServer`: a stdlib ``ThreadingHTTPServer`` on 127.0.0.1, a free port, in a daemon
  thread (``with BackgroundServer(Handler) as server: server.url``).
- `JsonHandler`: a request handler base with JSON/SSE helpers and a record of every request.
- `markers`: the ``[[fake:MODE]]`` / ``[[fake:MODE=VALUE]]`` markers a test puts in its prompt to
  choose how a fake answers (success, slow streaming, 429, 500, ...).
- `fill_schema`: a JSON value that satisfies a (simple) JSON Schema, for APIs whose callers ask
  for structured output (session titles, routing classifiers, JSON mode).

Standard library only, so every fake works in any venv; nothing here is specific to one vendor.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

__all__ = ["BackgroundServer", "JsonHandler", "RecordedRequest", "fill_schema", "markers"]

_MARKER = re.compile(r"\[\[fake:([a-z0-9-]+)(?:=([^\]]*))?\]\]")


def markers(text: str) -> dict[str, str]:
    """``"[[fake:slow=0.2]] [[fake:429]] hi"`` -> ``{"slow": "0.2", "429": ""}``."""
    return {m.group(1): m.group(2) or "" for m in _MARKER.finditer(text)}


class RecordedRequest:
    """One request a fake received: method, path (with query), headers and parsed JSON body."""

    def __init__(self, method: str, path: str, headers: Mapping[str, str], body: Any) -> None:
        self.method = method
        self.path = path
        self.headers = dict(headers)
        self.body = body

    def __repr__(self) -> str:
        return f"RecordedRequest({self.method} {self.path})"


class JsonHandler(BaseHTTPRequestHandler):
    """Base handler: subclasses implement ``do_POST`` etc. with these helpers.

    The server instance must be a `BackgroundServer` (its ``requests`` list records each request
    whose body was read with `read_json`).
    """

    protocol_version = "HTTP/1.1"
    server: BackgroundServer  # type: ignore[assignment]
    quiet: ClassVar[bool] = True

    def log_message(self, format: str, *args: Any) -> None:
        if not self.quiet:
            super().log_message(format, *args)

    def read_json(self) -> Any:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.server.record(RecordedRequest(self.command, self.path, self.headers, body))
        return body

    def send_json(
        self, status: int, payload: Any, headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def start_sse(self, headers: Mapping[str, str] | None = None) -> None:
        """Start a ``text/event-stream`` response; the connection closes after the stream."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.close_connection = True

    def send_sse(self, data: Any, event: str | None = None) -> None:
        """One server-sent event (``event:`` line when given, then ``data:`` as JSON)."""
        text = data if isinstance(data, str) else json.dumps(data)
        head = f"event: {event}\n" if event else ""
        self.wfile.write(f"{head}data: {text}\n\n".encode())
        self.wfile.flush()

    def send_empty(self, status: int) -> None:
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()


class BackgroundServer(ThreadingHTTPServer):
    """A threading HTTP server on 127.0.0.1 and a free port, serving in a daemon thread."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), handler)
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def count(self, key: str) -> int:
        """Increment and return how often `key` was seen (for "fail once, then succeed")."""
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            return self._counts[key]

    def __enter__(self) -> BackgroundServer:
        self._thread = threading.Thread(target=self.serve_forever, name="fake-api", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def fill_schema(schema: Any, *, text: str = "fake", _depth: int = 0) -> Any:
    """A value valid against simple JSON Schemas (object/array/string/number/enum/const/anyOf).

    Strings become `text` (shortened to a `maxLength`), numbers their `minimum` or 1, arrays
    ``minItems`` items, objects their required properties plus every listed one.
    """
    if not isinstance(schema, dict) or _depth > 20:
        return text
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return fill_schema(schema[key][0], text=text, _depth=_depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: fill_schema(sub, text=text, _depth=_depth + 1) for name, sub in props.items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        return [
            fill_schema(schema.get("items", {}), text=text, _depth=_depth + 1) for _ in range(count)
        ]
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    limit = schema.get("maxLength")
    return text[:limit] if isinstance(limit, int) else text


def words(text: str) -> Iterator[str]:
    """`text` split into word-sized pieces that concatenate back to it exactly."""
    yield from re.findall(r"\S+\s*|\s+", text)
