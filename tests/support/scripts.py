"""Scripts the helper CLI plays (tests/support/fakecli.py ``script``): what real CLIs printed
when they failed or stalled, line by line.

Each builder gives one step of a script (a line on stdout or stderr); `write_script` saves a
script, `script_spec` makes a model play it (from scratch, or a built-in's spec with only its
command replaced, so that its patterns, hints and decoder are the real ones). The recorded cases:
codex offline repeating connection errors, claude's error result after a streamed answer
(`claude_failing_after_streaming`), codex's turn.failed next to an unrelated stderr warning
(`codex_turn_failed`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import attrs

from llminst import ModelSpec, Settings

from .paths import FAKECLI

SETTINGS = Settings(grace_period_s=0.5)
# The stalled calls below end early within a second or so; this deadline (far enough for a
# busy machine) only bounds how long a broken early stop makes a test wait before it fails.
NO_DEADLINE = 60.0

CODEX_START = [
    {"stdout": json.dumps({"type": "thread.started", "thread_id": "t-1"})},
    {
        "stdout": json.dumps(
            {
                "type": "item.completed",
                "item": {
                    "id": "item_0",
                    "type": "error",
                    "message": "Model metadata for `gpt-fake-1` not found. Defaulting to "
                    "fallback metadata; this can degrade performance and cause issues.",
                },
            }
        )
    },
    {"stdout": json.dumps({"type": "turn.started"})},
]
WAITING_FOR_NETWORK = (
    "Reconnecting... waiting for network (Connection failed: error sending request)"
)
CONTEXT_TOO_SMALL = "request (4560 tokens) exceeds the available context size (4096 tokens)"
PATH_ALIAS_WARNING = (
    "WARNING: proceeding, even though we could not create PATH aliases: Read-only file system "
    "(os error 30)"
)


def codex_line(record: dict[str, Any]) -> dict[str, str]:
    return {"stdout": json.dumps(record)}


def codex_answer(text: str) -> list[dict[str, str]]:
    return [
        codex_line(
            {"type": "item.completed", "item": {"id": "i1", "type": "agent_message", "text": text}}
        ),
        codex_line({"type": "turn.completed", "usage": {"input_tokens": 3, "output_tokens": 2}}),
    ]


def websocket_error(second: int) -> dict[str, str]:
    """codex 0.169's stderr line for each failed WebSocket connection (as recorded offline)."""
    return {
        "stderr": f"2026-11-25T02:27:{second:02d}.299348Z ERROR "
        "codex_api::endpoint::responses_websocket: failed to connect to Responses WebSocket "
        "stage=Unknown"
    }


def claude_line(record: dict[str, Any]) -> dict[str, str]:
    return {"stdout": json.dumps(record)}


def claude_delta(text: str) -> dict[str, str]:
    event = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": text},
    }
    return claude_line({"type": "stream_event", "event": event, "parent_tool_use_id": None})


def claude_api_error(text: str) -> dict[str, str]:
    """The assistant line claude makes up to report an API failure, then its error result."""
    return claude_line(
        {
            "type": "assistant",
            "message": {
                "id": "synthetic-1",
                "model": "<synthetic>",
                "role": "assistant",
                "content": [{"type": "text", "text": text}],
            },
            "parent_tool_use_id": None,
            "error": "invalid_request",
            "is_api_error_message": True,
        }
    )


def claude_error_result(text: str) -> dict[str, str]:
    return claude_line(
        {"type": "result", "subtype": "success", "is_error": True, "result": text, "num_turns": 1}
    )


def write_script(
    tmp_path: Path, lines: list[dict[str, str]], *, exit: int | None, child: bool = False
) -> str:
    path = tmp_path / f"script-{len(list(tmp_path.glob('script-*')))}.json"
    path.write_text(json.dumps({"lines": lines, "exit": exit, "child": child}))
    return str(path)


def script_spec(
    pidfile: Path, script: str, *, base: ModelSpec | None = None, **fields: Any
) -> ModelSpec:
    """A model playing `script`: from scratch, or the built-in `base` with only its command
    (and pidfile) replaced, so its patterns, hints and decoder are the real ones."""
    command = (sys.executable, FAKECLI, "script", script)
    env = {"FAKECLI_PIDFILE": str(pidfile)}
    if base is not None:
        return attrs.evolve(base, name="fake", command=command, env=env, **fields)
    return ModelSpec(name="fake", command=command, env=env, **fields)


STREAMED = ["It takes two years, ", "that is 730 days ", "in 2025 days and"]


def claude_failing_after_streaming(tmp_path: Path) -> str:
    lines = [
        claude_line({"type": "system", "subtype": "init", "session_id": "s-1"}),
        claude_line(
            {"type": "stream_event", "event": {"type": "message_start", "message": {"id": "m1"}}}
        ),
        *(claude_delta(piece) for piece in STREAMED),
        claude_api_error("Prompt is too long"),
        claude_error_result("Prompt is too long"),
    ]
    return write_script(tmp_path, lines, exit=1)


def codex_turn_failed(tmp_path: Path) -> str:
    lines = [
        {"stderr": PATH_ALIAS_WARNING},
        *CODEX_START,
        codex_line({"type": "error", "message": CONTEXT_TOO_SMALL}),
        codex_line({"type": "turn.failed", "error": {"message": CONTEXT_TOO_SMALL}}),
    ]
    return write_script(tmp_path, lines, exit=1)
