"""Small shared pieces for the fake LLM API servers the `realcli` tests run.

- `BackgroundServer`: a stdlib ``ThreadingHTTPServer`` on 127.0.0.1, a free port, in a daemon
  thread (``with BackgroundServer(Handler) as server: server.url``).
- `JsonHandler`: a request handler base with JSON/SSE helpers and a record of every request.
- `markers`: the ``[[fake:MODE]]`` / ``[[fake:MODE=VALUE]]`` markers a test puts in its prompt to
  choose how a fake answers (success, slow streaming, 429, 500, ...).
- `fill_schema`: a JSON value that satisfies a (simple) JSON Schema, for APIs whose callers ask
  for structured output (session titles, routing classifiers, JSON mode); Gemini's capitalised
  types (``OBJECT``, ``STRING``) too.
- `strip_markers`, `first_line`, `chunks`, `words`, `prefixed_answer`: the text helpers the fakes
  build their answers with.

Standard library only, so every fake works in any venv; nothing here is specific to one vendor.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

__all__ = [
    "BackgroundServer",
    "JsonHandler",
    "RecordedRequest",
    "chunks",
    "fill_schema",
    "first_line",
    "markers",
    "prefixed_answer",
    "strip_markers",
    "words",
]

_MARKER = re.compile(r"\[\[fake:([a-z0-9-]+)(?:=([^\]]*))?\]\]")


def markers(text: str) -> dict[str, str]:
    """``"[[fake:slow=0.2]] [[fake:429]] hi"`` -> ``{"slow": "0.2", "429": ""}``."""
    return {m.group(1): m.group(2) or "" for m in _MARKER.finditer(text)}


def strip_markers(text: str) -> str:
    """`text` without its ``[[fake:...]]`` markers."""
    return _MARKER.sub("", text)


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
    json_content_type: ClassVar[str] = "application/json"

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
        self.send_header("content-type", self.json_content_type)
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

    def send_sse(self, data: Any, event: str | None = None, *, eol: str = "\n") -> None:
        """One server-sent event (``event:`` line when given, then ``data:`` as JSON).

        `eol` ends each line (Google's servers send ``\\r\\n``).
        """
        text = data if isinstance(data, str) else json.dumps(data)
        head = f"event: {event}{eol}" if event else ""
        self.wfile.write(f"{head}data: {text}{eol}{eol}".encode())
        self.wfile.flush()

    def should_fail_429(self, modes: Mapping[str, str], key: str) -> bool:
        """``[[fake:429]]`` always, ``[[fake:429-once]]`` the first time `key` arrives."""
        return "429" in modes or ("429-once" in modes and self.server.count(key) == 1)

    def send_empty(self, status: int) -> None:
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()


class BackgroundServer(ThreadingHTTPServer):
    """A threading HTTP server on 127.0.0.1 and a free port, serving in a daemon thread."""

    daemon_threads = True

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        host: str = "127.0.0.1",
        *,
        name: str = "fake-api",
    ) -> None:
        super().__init__((host, 0), handler)
        self.name = name
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
        self._thread = threading.Thread(
            target=self.serve_forever, args=(0.05,), name=self.name, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def serve_until_interrupted(self) -> None:
        """A manual run (``python tests/realcli/fake_*.py``): print the URL clients use (its
        ``base_url`` when it has one) and serve until Ctrl-C."""
        with self:
            print(getattr(self, "base_url", self.url), flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass


def fill_schema(
    schema: Any,
    *,
    text: str = "fake",
    keyed: bool = False,
    min_items: int = 1,
    _key: str = "",
    _depth: int = 0,
) -> Any:
    """A value valid against simple JSON Schemas (object/array/string/number/enum/const/anyOf).

    Strings become `text` (``"KEY: text"`` for a property KEY when `keyed`; shortened to a
    ``maxLength``), numbers their `minimum` or 1, arrays ``minItems`` items (`min_items` when
    unset, never fewer), objects every listed property. Type names are case-insensitive: Gemini's
    own schemas spell them in capitals (``OBJECT``, ``STRING``).
    """
    if not isinstance(schema, dict) or _depth > 20:
        return text

    def fill(sub: Any, key: str) -> Any:
        return fill_schema(
            sub, text=text, keyed=keyed, min_items=min_items, _key=key, _depth=_depth + 1
        )

    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return fill(schema[key][0], _key)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    kind = str(kind).lower()
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: fill(sub, name) for name, sub in props.items()}
    if kind == "array":
        count = max(min_items, int(schema.get("minItems", min_items)))
        return [fill(schema.get("items", {}), _key) for _ in range(count)]
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    value = f"{_key}: {text}" if keyed and _key else text
    limit = schema.get("maxLength")
    return value[:limit] if isinstance(limit, int) else value


def words(text: str) -> Iterator[str]:
    """`text` split into word-sized pieces that concatenate back to it exactly."""
    yield from re.findall(r"\S+\s*|\s+", text)


def chunks(text: str, count: int) -> list[str]:
    """`text` in `count` (or fewer) pieces of equal length; ``[""]`` for no text."""
    size = max(1, -(-len(text) // count))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def first_line(prompt: str) -> str:
    """The prompt's first line without markers (what the fakes echo back)."""
    plain = strip_markers(prompt).strip()
    return plain.splitlines()[0].strip() if plain else ""


def prefixed_answer(prompt: str, schema: dict[str, Any] | None, prefix: str) -> str:
    """JSON filling `schema` (strings ``"KEY: <first line>"``) when the prompt carries one,
    else ``"<prefix> <first line>"``."""
    if schema is not None:
        return json.dumps(fill_schema(schema, text=first_line(prompt), keyed=True, min_items=0))
    return f"{prefix} {first_line(prompt)}"
