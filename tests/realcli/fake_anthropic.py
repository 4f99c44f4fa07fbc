"""A fake Anthropic Messages API, enough for the real `claude` CLI to run offline.

Start it with ``with FakeAnthropic() as api:`` and point claude at it with
``ANTHROPIC_BASE_URL=api.url ANTHROPIC_API_KEY=anything``. It answers ``POST /v1/messages``
(claude adds ``?beta=true``) as server-sent events, or as one JSON message when the request does
not ask to stream; ``HEAD /`` (claude's connectivity check) gets 404.

What it answers is chosen by markers in the last user message (see `sse.markers`):

- no marker: ``Echo: <the prompt>`` in a few text deltas;
- ``[[fake:slow]]`` / ``[[fake:slow=SECONDS]]``: one delta per word, `SECONDS` apart (0.15);
- ``[[fake:429]]``: HTTP 429 with ``retry-after`` and an Anthropic ``rate_limit_error`` body;
- ``[[fake:429-once]]``: 429 the first time this exact prompt arrives, then success;
- ``[[fake:usage-limit]]``: 429 with the ``anthropic-ratelimit-unified-*`` headers of a
  subscription's usage limit (status rejected, reset in three hours) and the older CLI's
  ``Claude AI usage limit reached|<epoch>`` as the body's message;
- ``[[fake:429-reset]]`` / ``[[fake:429-reset=SECONDS]]``: a subscription's limit as the API
  sends it: 429 with ``retry-after`` and the ``anthropic-ratelimit-unified-*`` headers (status
  rejected, reset SECONDS from now, 7200 by default) and a plain ``rate_limit_error`` body.
  Signed in with an OAuth token (``CLAUDE_CODE_OAUTH_TOKEN``), claude 2.1.331 turns it into a
  ``rate_limit_event`` line (``"status": "rejected", "resetsAt": <epoch>``) and the answer
  ``You've hit your 5-hour limit · resets 2:21pm (UTC)``; with an API key it prints only the
  body's message (no reset time);
- ``[[fake:500]]``: HTTP 500 with an ``api_error`` body;
- ``[[fake:tool=NAME {"input": "as JSON"}]]``: a ``tool_use`` of claude's tool ``NAME`` (``Bash``,
  ``Read``, ...) with that input; once the tool result comes back, ``Tool result: <its text>``
  (``Tool error: ...`` when claude refused or failed to run it), so a test sees what claude was
  allowed to do;
- llminst's JSON instructions in the prompt: a JSON value filling that schema;
- a structured-output tool offered (claude's ``--json-schema``): a ``tool_use`` of that tool
  with input filling its schema, then ``Done.`` once the tool result comes back.

Side requests claude makes with ``output_config.format`` (a session title as a json_schema) get
JSON filling that schema. Standard library only.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

try:
    from .sse import BackgroundServer, JsonHandler, fill_schema, markers, words
except ImportError:  # run as a script: python tests/realcli/fake_anthropic.py
    from sse import BackgroundServer, JsonHandler, fill_schema, markers, words  # type: ignore[no-redef]

__all__ = ["FakeAnthropic", "prompt_of"]

SCHEMA_OPEN = "<json_schema>"
SCHEMA_CLOSE = "</json_schema>"
MODEL = "claude-fake-1"
RETRY_AFTER_S = 1
USAGE_RESET_S = 3 * 3600
LIMIT_RESET_S = 2 * 3600


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    return [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]


def prompt_of(body: dict[str, Any]) -> str:
    """The user's prompt: the last user message's text, without claude's reminder blocks."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "user":
            continue
        texts = [t for t in _texts(message.get("content")) if not t.startswith("<system-reminder>")]
        if texts:
            return texts[-1]
    return ""


def _has_tool_result(body: dict[str, Any]) -> bool:
    messages = body.get("messages") or []
    content = messages[-1].get("content") if messages else None
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    )


def _tool_result_text(body: dict[str, Any]) -> str:
    """``Tool result: <text>`` (or ``Tool error: <text>``) of the last message's tool result."""
    messages = body.get("messages") or []
    for block in messages[-1].get("content") or []:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            content = block.get("content")
            text = content if isinstance(content, str) else " ".join(_texts(content))
            return f"Tool {'error' if block.get('is_error') else 'result'}: {text}"
    return "Tool result: (none)"


def _schema_in_prompt(prompt: str) -> dict[str, Any] | None:
    start = prompt.rfind(f"\n{SCHEMA_OPEN}\n")
    end = prompt.find(f"\n{SCHEMA_CLOSE}", start + 1)
    if start < 0 or end < 0:
        return None
    try:
        schema = json.loads(prompt[start + len(SCHEMA_OPEN) + 2 : end])
    except ValueError:
        return None
    return schema if isinstance(schema, dict) else None


def _structured_output_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    for tool in body.get("tools") or []:
        if isinstance(tool, dict) and "structured" in str(tool.get("name", "")).lower():
            return tool
    return None


class _Handler(JsonHandler):
    def do_HEAD(self) -> None:
        self.send_empty(404)

    def do_GET(self) -> None:
        self.send_json(404, {"type": "error", "error": {"type": "not_found_error"}})

    def do_POST(self) -> None:
        body = self.read_json()
        if not self.path.startswith("/v1/messages") or not isinstance(body, dict):
            self.send_json(404, {"type": "error", "error": {"type": "not_found_error"}})
            return
        if "count_tokens" in self.path:
            self.send_json(200, {"input_tokens": 10})
            return
        prompt = prompt_of(body)
        modes = markers(prompt)
        if self.should_fail_429(modes, prompt):
            self.send_json(
                429,
                {
                    "type": "error",
                    "error": {
                        "type": "rate_limit_error",
                        "message": "Number of request tokens has exceeded your per-minute rate "
                        "limit (fake). Please try again later.",
                    },
                },
                {"retry-after": str(RETRY_AFTER_S), "request-id": "req_fake_429"},
            )
            return
        if "usage-limit" in modes:
            reset = int(time.time()) + USAGE_RESET_S
            self.send_json(
                429,
                {
                    "type": "error",
                    "error": {
                        "type": "rate_limit_error",
                        "message": f"Claude AI usage limit reached|{reset}",
                    },
                },
                {
                    "anthropic-ratelimit-unified-status": "rejected",
                    "anthropic-ratelimit-unified-reset": str(reset),
                    "anthropic-ratelimit-unified-representative-claim": "five_hour",
                    "anthropic-ratelimit-unified-5h-status": "rejected",
                    "anthropic-ratelimit-unified-5h-reset": str(reset),
                },
            )
            return
        if "429-reset" in modes:
            self._send_limit_reset(int(time.time() + float(modes["429-reset"] or LIMIT_RESET_S)))
            return
        if "500" in modes:
            self.send_json(
                500,
                {
                    "type": "error",
                    "error": {"type": "api_error", "message": "Internal server error"},
                },
            )
            return
        blocks, delay = self._answer(body, prompt, modes)
        if body.get("stream"):
            self._stream(body, blocks, delay)
        else:
            self.send_json(200, _message(body, blocks))

    def _send_limit_reset(self, reset: int) -> None:
        """429 of a subscription's five-hour limit, resetting at `reset` (epoch seconds)."""
        self.send_json(
            429,
            {
                "type": "error",
                "error": {"type": "rate_limit_error", "message": "Rate limited (fake)"},
            },
            {
                "retry-after": str(max(0, reset - int(time.time()))),
                "request-id": "req_fake_429_reset",
                "anthropic-ratelimit-unified-status": "rejected",
                "anthropic-ratelimit-unified-reset": str(reset),
                "anthropic-ratelimit-unified-representative-claim": "five_hour",
                "anthropic-ratelimit-unified-5h-status": "rejected",
                "anthropic-ratelimit-unified-5h-reset": str(reset),
            },
        )

    def _answer(
        self, body: dict[str, Any], prompt: str, modes: dict[str, str]
    ) -> tuple[list[dict[str, Any]], float]:
        """The content blocks to answer with and the delay between text deltas."""
        delay = float(modes["slow"] or 0.15) if "slow" in modes else 0.0
        side_format = (body.get("output_config") or {}).get("format")
        if isinstance(side_format, dict):
            value = fill_schema(side_format.get("schema"), text="Fake session")
            return [{"type": "text", "text": json.dumps(value)}], 0.0
        if "tool" in modes:
            return [_tool_call(body, modes["tool"])], 0.0
        tool = _structured_output_tool(body)
        if tool is not None and not _has_tool_result(body):
            value = fill_schema(tool.get("input_schema"), text=f"answer to: {prompt[:60]}")
            return [
                {
                    "type": "tool_use",
                    "id": f"toolu_{uuid.uuid4().hex[:20]}",
                    "name": tool["name"],
                    "input": value,
                }
            ], 0.0
        if tool is not None:
            return [{"type": "text", "text": "Done."}], 0.0
        schema = _schema_in_prompt(prompt)
        if schema is not None:
            value = fill_schema(schema, text="fake answer")
            return [{"type": "text", "text": json.dumps(value)}], delay
        return [{"type": "text", "text": f"Echo: {prompt}"}], delay

    def _stream(self, body: dict[str, Any], blocks: list[dict[str, Any]], delay: float) -> None:
        self.start_sse({"request-id": "req_fake"})
        message = _message(body, [])
        message["stop_reason"] = None
        self.send_sse({"type": "message_start", "message": message}, "message_start")
        for index, block in enumerate(blocks):
            if block["type"] == "text":
                start = {"type": "text", "text": ""}
                self.send_sse(
                    {"type": "content_block_start", "index": index, "content_block": start},
                    "content_block_start",
                )
                for piece in words(block["text"]) if delay else [block["text"]]:
                    if delay:
                        time.sleep(delay)
                    delta = {"type": "text_delta", "text": piece}
                    self.send_sse(
                        {"type": "content_block_delta", "index": index, "delta": delta},
                        "content_block_delta",
                    )
            else:
                start = {**block, "input": {}}
                self.send_sse(
                    {"type": "content_block_start", "index": index, "content_block": start},
                    "content_block_start",
                )
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
                self.send_sse(
                    {"type": "content_block_delta", "index": index, "delta": delta},
                    "content_block_delta",
                )
            self.send_sse({"type": "content_block_stop", "index": index}, "content_block_stop")
        self.send_sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": _stop_reason(blocks), "stop_sequence": None},
                "usage": {"output_tokens": _output_tokens(blocks)},
            },
            "message_delta",
        )
        self.send_sse({"type": "message_stop"}, "message_stop")


def _tool_call(body: dict[str, Any], marker: str) -> dict[str, Any]:
    """The model calls the tool the marker names, once (``Bash {"command": "ls"}``), then
    reports the tool's result."""
    if _has_tool_result(body):
        return {"type": "text", "text": _tool_result_text(body)}
    name, _, arguments = marker.partition(" ")
    return {
        "type": "tool_use",
        "id": f"toolu_{uuid.uuid4().hex[:20]}",
        "name": name,
        "input": json.loads(arguments) if arguments.strip() else {},
    }


def _stop_reason(blocks: list[dict[str, Any]]) -> str:
    return "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"


def _output_tokens(blocks: list[dict[str, Any]]) -> int:
    return sum(len(json.dumps(b).split()) for b in blocks) or 1


def _message(body: dict[str, Any], blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": f"msg_fake_{uuid.uuid4().hex[:20]}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model") or MODEL,
        "content": blocks,
        "stop_reason": _stop_reason(blocks),
        "stop_sequence": None,
        "usage": {
            "input_tokens": 12,
            "output_tokens": _output_tokens(blocks),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


class FakeAnthropic(BackgroundServer):
    """The fake API server; ``with FakeAnthropic() as api: api.url``."""

    def __init__(self) -> None:
        super().__init__(_Handler)


if __name__ == "__main__":  # a manual run: print the URL and serve until interrupted
    FakeAnthropic().serve_until_interrupted()
