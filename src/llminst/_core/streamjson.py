"""claude's stream-json input: the lines llminst writes to a CLI started with
``--input-format stream-json``, and how its answer to the first of them is recognised.

The exchange (the one claude-agent-sdk uses): an ``initialize`` control request, answered by a
``control_response`` line with the same ``request_id``; then the prompt as one ``user`` message;
the CLI answers up to its ``result`` line and exits once stdin is closed. Measured on claude
2.1: stdin may be closed right after the user message (the CLI still answers), so a cold call
writes both lines at once, and a warm process gets its initialize early and its user message
later. The prompt travels inside JSON on stdin and never touches argv.

Pure: builds and reads bytes only; never a process, a pipe or a clock.
"""

from __future__ import annotations

import json

__all__ = [
    "INITIALIZE_REQUEST_ID",
    "after_initialize",
    "initialize_line",
    "is_initialize_response",
    "prompt_input",
    "user_message_line",
]

INITIALIZE_REQUEST_ID = "llminst_initialize"


def initialize_line() -> bytes:
    """The ``initialize`` control request, one JSON line."""
    request = {
        "type": "control_request",
        "request_id": INITIALIZE_REQUEST_ID,
        "request": {"subtype": "initialize", "hooks": None},
    }
    return _line(request)


def user_message_line(prompt: str) -> bytes:
    """The prompt as one ``user`` message line (strict UTF-8: the caller checked the text)."""
    message = {
        "type": "user",
        "session_id": "",
        "message": {"role": "user", "content": prompt},
        "parent_tool_use_id": None,
    }
    return _line(message)


def prompt_input(prompt: str) -> bytes:
    """Everything a cold call writes to stdin before closing it: initialize, then the prompt."""
    return initialize_line() + user_message_line(prompt)


def after_initialize(stdin: bytes) -> bytes:
    """`prompt_input`'s bytes without the initialize request: what a process that was sent it
    already (a warm one) still gets."""
    first = initialize_line()
    if not stdin.startswith(first):
        raise ValueError("not stream-json input that starts with llminst's initialize request")
    return stdin[len(first) :]


def is_initialize_response(line: bytes) -> bool:
    """Whether `line` is the CLI's answer to `initialize_line` (success or not)."""
    try:
        record = json.loads(line)
    except ValueError:
        return False
    if not isinstance(record, dict) or record.get("type") != "control_response":
        return False
    response = record.get("response")
    return isinstance(response, dict) and response.get("request_id") == INITIALIZE_REQUEST_ID


def _line(record: object) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
