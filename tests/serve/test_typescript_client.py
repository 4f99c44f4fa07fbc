"""The official TypeScript SDK client validates every result against the output schemas.

It ships inside the MCP Inspector that tox's `inspector` environment installs from npm (the
`@modelcontextprotocol/client` package next to it); $LLMINST_INSPECTOR points at the Inspector,
and a missing one there fails the run, never skips. The output schemas write nullable fields as
``"type": [T, "null"]`` (issue 11), which ajv's strict mode allows; this pins that.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ..support.paths import TESTS

pytestmark = pytest.mark.inspector

SCRIPT = TESTS / "support" / "ts_client.mjs"
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("execute_llm", {"model": "echo", "prompt": "hello"}),
    ("execute_llm", {"model": "echo", "prompt": "2+2?", "json_mode": True}),
    ("stream_llm", {"model": "echo", "prompt": "streamed"}),
    ("get_llm_status", {}),
    ("estimate_tokens", {"text": "hello world"}),
    ("execute_llm", {"model": "echo", "prompt": "in a session", "session": "ts-1"}),
    ("list_llm_sessions", {}),
    ("start_llm", {"model": "echo", "prompt": "a job"}),
    ("list_llm_calls", {}),
    ("compare_llms", {"models": ["echo"], "prompt": "compared"}),
    ("get_llm_usage", {}),
    ("configure_llm", {"model": "later", "command": ["not-installed-cli"]}),
    ("execute_llm", {"model": "nope", "prompt": "x"}),
]


def client_package() -> Path:
    binary = os.environ.get("LLMINST_INSPECTOR")
    if not binary or not Path(binary).exists():
        pytest.fail(
            "LLMINST_INSPECTOR does not name the mcp-inspector binary; run `tox -e inspector`, "
            "which installs @modelcontextprotocol/inspector (and its client package) from npm"
        )
    # node_modules/.bin/mcp-inspector -> node_modules/@modelcontextprotocol/client
    return Path(binary).parent.parent / "@modelcontextprotocol" / "client"


def test_every_result_conforms_for_the_typescript_client(tmp_path: Path) -> None:
    """Each tool's result passes the TypeScript client's own output-schema check."""
    env = {**os.environ, "HOME": str(tmp_path)}
    done = subprocess.run(
        ["node", str(SCRIPT), str(client_package()), sys.executable, json.dumps(CALLS)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a["name"] for a in answers] == [name for name, _ in CALLS]
    assert [a["isError"] for a in answers] == [False] * (len(CALLS) - 1) + [True]
    assert answers[0]["structured"]["output"] == "hello"
    assert answers[-1]["structured"]["error_kind"] == "unknown_model"
