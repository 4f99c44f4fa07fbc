"""A fake OpenAI Chat Completions API, enough for the real `openai` and `llm` CLIs to run offline.

Start it with ``with FakeOpenAIChat() as api:`` and point a CLI at it with
``OPENAI_BASE_URL=api.base_url OPENAI_API_KEY=anything`` (``base_url`` ends in ``/v1``). It answers
``POST /v1/chat/completions`` as one ``chat.completion`` JSON object, or as server-sent
``chat.completion.chunk`` events ending in ``data: [DONE]`` when the request sets ``stream``
(with a usage chunk when ``stream_options.include_usage`` asks for one). ``GET /v1/models`` lists
the one model.

What it answers is chosen by markers in the last user message (see `sse.markers`):

- no marker: ``Echo: <the prompt>`` in a few deltas;
- ``[[fake:slow]]`` / ``[[fake:slow=SECONDS]]``: one delta per word, `SECONDS` apart (0.15);
- ``[[fake:429]]``: HTTP 429 ``rate_limit_exceeded`` with ``retry-after: 1`` and OpenAI's
  "Please try again in 1s." wording;
- ``[[fake:429-once]]``: 429 the first time this exact prompt arrives, then success;
- ``[[fake:500]]``: HTTP 500 ``server_error``;
- llminst's JSON instructions in the prompt: a JSON value filling that schema.

Standard library only (plus llminst's own `schema_from_prompt` when importable).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Any

try:
    from .sse import BackgroundServer, JsonHandler, fill_schema, markers, words
except ImportError:  # run as a script: python tests/realcli/fake_openai_chat.py
    from sse import BackgroundServer, JsonHandler, fill_schema, markers, words  # type: ignore[no-redef]

from llminst._core.jsonmode import schema_from_prompt

__all__ = ["SERVER_ERROR", "FakeOpenAIChat", "openai_error", "prompt_of"]

MODEL = "gpt-fake-1"
RETRY_AFTER_S = 1
SLOW_DELAY_S = 0.15


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def prompt_of(body: dict[str, Any]) -> str:
    """The last user message's text."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def openai_error(message: str, kind: str, code: str | None) -> dict[str, Any]:
    """An OpenAI API error body (Chat Completions and Responses use the same one)."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


SERVER_ERROR = openai_error(
    "The server had an error while processing your request. Sorry about that!",
    "server_error",
    None,
)


def _error(status: int) -> dict[str, Any]:
    if status == 429:
        return openai_error(
            "Rate limit reached for gpt-4 in organization org-fake on tokens per "
            "min (TPM): Limit 10000, Used 10000, Requested 30. Please try again in "
            f"{RETRY_AFTER_S}s. Visit https://platform.openai.com/account/rate-limits to "
            "learn more.",
            "tokens",
            "rate_limit_exceeded",
        )
    return SERVER_ERROR


class _Handler(JsonHandler):
    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self.send_json(
                200,
                {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "fake"}]},
            )
            return
        self.send_json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        body = self.read_json()
        if not self.path.startswith("/v1/chat/completions") or not isinstance(body, dict):
            self.send_json(
                404, {"error": {"message": "not found", "type": "invalid_request_error"}}
            )
            return
        prompt = prompt_of(body)
        modes = markers(prompt)
        if self.should_fail_429(modes, prompt):
            self.send_json(
                429,
                _error(429),
                {"retry-after": str(RETRY_AFTER_S), "x-request-id": "req_fake_429"},
            )
            return
        if "500" in modes:
            self.send_json(500, _error(500))
            return
        text = _answer(prompt)
        delay = float(modes["slow"] or SLOW_DELAY_S) if "slow" in modes else 0.0
        if body.get("stream"):
            self._stream(body, text, delay)
        else:
            self.send_json(200, _completion(body, text))

    def _stream(self, body: dict[str, Any], text: str, delay: float) -> None:
        self.start_sse({"x-request-id": "req_fake"})
        ident = f"chatcmpl-fake{uuid.uuid4().hex[:16]}"
        model = body.get("model") or MODEL
        first = {"role": "assistant", "content": ""}
        self.send_sse(_chunk(ident, model, first, None))
        for piece in words(text) if delay else _thirds(text):
            if delay:
                time.sleep(delay)
            self.send_sse(_chunk(ident, model, {"content": piece}, None))
        self.send_sse(_chunk(ident, model, {}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = _chunk(ident, model, {}, None)
            usage["choices"] = []
            usage["usage"] = _usage(text)
            self.send_sse(usage)
        self.send_sse("[DONE]")


def _answer(prompt: str) -> str:
    schema = schema_from_prompt(prompt)
    if schema is not None:
        return json.dumps(fill_schema(schema, text="fake answer"))
    return f"Echo: {prompt}"


def _thirds(text: str) -> list[str]:
    step = max(1, len(text) // 3)
    return [text[i : i + step] for i in range(0, len(text), step)] or [""]


def _usage(text: str) -> dict[str, int]:
    out = max(1, len(text.split()))
    return {"prompt_tokens": 12, "completion_tokens": out, "total_tokens": 12 + out}


def _chunk(ident: str, model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def _completion(body: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake{uuid.uuid4().hex[:16]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or MODEL,
        "system_fingerprint": "fp_fake",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(text),
    }


class FakeOpenAIChat(BackgroundServer):
    """The fake API server; ``with FakeOpenAIChat() as api: api.base_url``."""

    def __init__(self) -> None:
        super().__init__(_Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that drop a kept-alive connection (the openai SDK does) are not errors."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    @property
    def base_url(self) -> str:
        """What ``OPENAI_BASE_URL`` must be: the server's URL with ``/v1``."""
        return f"{self.url}/v1"


if __name__ == "__main__":  # a manual run: print the base URL and serve until interrupted
    FakeOpenAIChat().serve_until_interrupted()
