"""A fake Gemini API (generateContent and streamGenerateContent) for running the real gemini CLI.

Start it with ``with FakeGemini() as api:``; point the CLI at it with ``GOOGLE_GEMINI_BASE_URL`` (see
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

Test code only: the shared stdlib server of `sse` (a thread, 127.0.0.1, a free port).
"""

from __future__ import annotations

import json
import time
from typing import Any

from llminst._core.jsonmode import schema_from_prompt

from .sse import BackgroundServer, JsonHandler, chunks, fill_schema, markers, prefixed_answer

__all__ = ["FakeGemini", "gemini_env"]

MODEL_VERSION = "gemini-2.5-flash"
SLOW_CHUNKS = 10
SLOW_DELAY_S = 0.3
RETRY_DELAY = "37s"
ONCE_RETRY_DELAY = "1s"


def gemini_env(fake: FakeGemini) -> dict[str, str]:
    """The variables that point the gemini CLI at `fake` with an API key."""
    return {"GEMINI_API_KEY": "fake-key", "GOOGLE_GEMINI_BASE_URL": fake.url}


def _prompt_of(body: dict[str, Any]) -> str:
    """The last text part of the last user turn (the CLI puts its session context before it)."""
    for content in reversed(body.get("contents") or []):
        if content.get("role", "user") == "user":
            texts = [p["text"] for p in content.get("parts") or [] if p.get("text")]
            if texts:
                return str(texts[-1])
    return ""


def _answer_for(prompt: str) -> str:
    return prefixed_answer(prompt, schema_from_prompt(prompt), "fake-gemini says:")


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


class _Handler(JsonHandler):
    server_version = "fake-gemini/1"
    json_content_type = "application/json; charset=UTF-8"

    def do_GET(self) -> None:
        self.send_json(404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}})

    def do_POST(self) -> None:
        body = self.read_json()
        if not isinstance(body, dict):
            body = {}
        if ":streamGenerateContent" in self.path:
            self._stream(body)
        elif ":generateContent" in self.path:
            self._generate(body)
        elif ":countTokens" in self.path:
            length = int(self.headers.get("content-length") or 0)
            self.send_json(200, {"totalTokens": max(1, length // 4)})
        else:
            self.send_json(
                404, {"error": {"code": 404, "message": self.path, "status": "NOT_FOUND"}}
            )

    def _generate(self, body: dict[str, Any]) -> None:
        """Side requests: JSON per the requested schema, else a short text."""
        config = body.get("generationConfig") or {}
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        prompt = _prompt_of(body)
        if schema is not None or config.get("responseMimeType") == "application/json":
            value = fill_schema(schema, keyed=True, min_items=0) if schema else {}
            text = json.dumps(value)
        else:
            text = _answer_for(prompt)
        self.send_json(
            200,
            {
                "candidates": [_candidate(text, final=True)],
                "usageMetadata": _usage(prompt, text),
                "modelVersion": MODEL_VERSION,
            },
        )

    def _stream(self, body: dict[str, Any]) -> None:
        prompt = _prompt_of(body)
        modes = markers(prompt)
        if "429" in modes:
            self.send_json(429, _error_429())
            return
        if "429-once" in modes and self.server.count("429-once") == 1:
            self.send_json(429, _error_429(ONCE_RETRY_DELAY))
            return
        if "500" in modes:
            self.send_json(500, _ERROR_500)
            return
        answer = _answer_for(prompt)
        slow = "slow" in modes
        pieces = chunks(answer, SLOW_CHUNKS if slow else 3)
        self.start_sse()
        for index, piece in enumerate(pieces):
            final = index == len(pieces) - 1
            event: dict[str, Any] = {
                "candidates": [_candidate(piece, final=final)],
                "modelVersion": MODEL_VERSION,
                "responseId": "fake-response-1",
            }
            if final:
                event["usageMetadata"] = _usage(prompt, answer)
            self.send_sse(event, eol="\r\n")
            if slow and not final:
                time.sleep(SLOW_DELAY_S)


class FakeGemini(BackgroundServer):
    """The fake API server; ``with FakeGemini() as api: api.url``. `requests` records each one."""

    def __init__(self) -> None:
        super().__init__(_Handler, name="fake-gemini")

    def stream_requests(self) -> list[Any]:
        """The bodies of the streaming (main) requests so far."""
        with self._lock:
            return [r.body for r in self.requests if "streamGenerateContent" in r.path]
