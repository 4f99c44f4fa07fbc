"""A fake OpenAI Responses API (``POST /v1/responses`` as SSE) for running the real codex CLI.

Start it with ``with FakeResponses() as api:``; point codex at it with a model provider (see
`codex_config_toml`, written to ``$CODEX_HOME/config.toml``, or the same as ``-c`` overrides).
What the answer does is chosen by a marker in the prompt, as for the fake Gemini API:

- none: success, answering ``fake-openai says: <the prompt's first line>`` as text deltas and a
  completed message, then ``response.completed`` with usage;
- ``[[fake:slow]]``: the same in ten deltas 0.3 s apart;
- ``[[fake:429]]``: HTTP 429 ``rate_limit_exceeded`` with ``Retry-After: 37`` and OpenAI's
  "Please try again in 37s." wording;
- ``[[fake:429-once]]``: the same 429 (``Retry-After: 1``) on the first request of this server,
  success afterwards;
- ``[[fake:401]]``: HTTP 401 ``invalid_api_key`` (a wrong key);
- ``[[fake:500]]``: HTTP 500 ``server_error``;
- llminst's JSON-mode instructions: a JSON answer that validates against the schema.

Test code only: the shared stdlib server of `sse` (a thread, 127.0.0.1, a free port).
"""

from __future__ import annotations

import time
from typing import Any

from llminst._core.jsonmode import schema_from_prompt

from .fake_openai_chat import SERVER_ERROR, openai_error
from .sse import BackgroundServer, JsonHandler, chunks, markers, prefixed_answer

__all__ = ["FakeResponses", "codex_config_toml"]

MODEL = "gpt-fake-1"
SLOW_CHUNKS = 10
SLOW_DELAY_S = 0.3
RETRY_AFTER_S = 37
ONCE_RETRY_AFTER_S = 1


def codex_config_toml(fake: FakeResponses, *, request_max_retries: int = 0) -> str:
    """A ``config.toml`` that makes codex use `fake` (the key comes from ``OPENAI_API_KEY``).

    ``request_max_retries`` is codex's own retry count for failed requests (its default is 4,
    with backoff); 0 lets a 429 reach llminst at once.
    """
    return (
        'model_provider = "fake"\n'
        f'model = "{MODEL}"\n'
        "[model_providers.fake]\n"
        'name = "fake"\n'
        f'base_url = "{fake.base_url}"\n'
        'env_key = "OPENAI_API_KEY"\n'
        'wire_api = "responses"\n'
        f"request_max_retries = {request_max_retries}\n"
        f"stream_max_retries = {request_max_retries}\n"
    )


def _prompt_of(body: dict[str, Any]) -> str:
    """The last text of the last user message (codex sends its own context messages first)."""
    for item in reversed(body.get("input") or []):
        if item.get("type", "message") == "message" and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            texts = [c.get("text", "") for c in content or [] if c.get("text")]
            if texts:
                return str(texts[-1])
    return ""


def _answer_for(prompt: str) -> str:
    return prefixed_answer(prompt, schema_from_prompt(prompt), "fake-openai says:")


def _usage(prompt: str, answer: str) -> dict[str, Any]:
    input_tokens = max(1, len(prompt) // 4)
    output_tokens = max(1, len(answer) // 4)
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def _error(status: int, retry_after_s: int = RETRY_AFTER_S) -> dict[str, Any]:
    if status == 429:
        return openai_error(
            f"Rate limit reached for {MODEL} in organization org-fake on tokens per min "
            f"(TPM): Limit 30000, Used 30000, Requested 100. Please try again in "
            f"{retry_after_s}s. Visit https://platform.openai.com/account/rate-limits "
            "to learn more.",
            "tokens",
            "rate_limit_exceeded",
        )
    if status == 401:
        return openai_error(
            "Incorrect API key provided: fake-key. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        )
    return SERVER_ERROR


class _Handler(JsonHandler):
    server_version = "fake-openai/1"

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self.send_json(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
            return
        self.send_json(404, {"error": {"message": f"no route {self.path}", "type": "invalid"}})

    def do_POST(self) -> None:
        body = self.read_json()
        if not isinstance(body, dict):
            body = {}
        if self.path.split("?")[0].endswith("/responses"):
            self._respond(body)
        else:
            self.send_json(404, {"error": {"message": f"no route {self.path}", "type": "invalid"}})

    def _respond(self, body: dict[str, Any]) -> None:
        prompt = _prompt_of(body)
        modes = markers(prompt)
        if "429-once" in modes and self.server.count("429-once") == 1:
            retry = {"Retry-After": str(ONCE_RETRY_AFTER_S)}
            self.send_json(429, _error(429, ONCE_RETRY_AFTER_S), retry)
            return
        if "429" in modes:
            self.send_json(429, _error(429), {"Retry-After": str(RETRY_AFTER_S)})
            return
        if "401" in modes:
            self.send_json(401, _error(401))
            return
        if "500" in modes:
            self.send_json(500, _error(500))
            return
        self._stream(prompt, slow="slow" in modes, model=str(body.get("model") or MODEL))

    def _stream(self, prompt: str, *, slow: bool, model: str) -> None:
        answer = _answer_for(prompt)
        response_id = "resp_fake_1"
        item_id = "msg_fake_1"
        self.start_sse()
        response = {
            "id": response_id,
            "object": "response",
            "model": model,
            "status": "in_progress",
        }
        self._event("response.created", {"response": response})
        self._event("response.in_progress", {"response": response})
        message: dict[str, Any] = {
            "type": "message",
            "id": item_id,
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        self._event("response.output_item.added", {"output_index": 0, "item": message})
        part = {"type": "output_text", "text": "", "annotations": []}
        self._event(
            "response.content_part.added",
            {"item_id": item_id, "output_index": 0, "content_index": 0, "part": part},
        )
        for piece in chunks(answer, SLOW_CHUNKS if slow else 3):
            self._event(
                "response.output_text.delta",
                {"item_id": item_id, "output_index": 0, "content_index": 0, "delta": piece},
            )
            if slow:
                time.sleep(SLOW_DELAY_S)
        self._event(
            "response.output_text.done",
            {"item_id": item_id, "output_index": 0, "content_index": 0, "text": answer},
        )
        done = {**message, "status": "completed", "content": [{**part, "text": answer}]}
        self._event("response.output_item.done", {"output_index": 0, "item": done})
        completed = {
            **response,
            "status": "completed",
            "output": [done],
            "usage": _usage(prompt, answer),
        }
        self._event("response.completed", {"response": completed})

    def _event(self, kind: str, payload: dict[str, Any]) -> None:
        self.send_sse({"type": kind, **payload}, kind)


class FakeResponses(BackgroundServer):
    """The fake API server; ``with FakeResponses() as api: api.base_url``. `requests` records each
    POST."""

    def __init__(self) -> None:
        super().__init__(_Handler, name="fake-responses")

    @property
    def base_url(self) -> str:
        """The provider's ``base_url``: the server's URL with ``/v1``."""
        return f"{self.url}/v1"
