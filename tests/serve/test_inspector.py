"""A real MCP client written by someone else: the MCP Inspector's CLI mode (npm).

These run in tox's `inspector` environment, which installs the Inspector from the npm registry
and points $LLMINST_INSPECTOR at it; a missing Inspector there fails the run, never skips.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ..support.paths import LLMINST
from ..support.tools import CONTRACT

pytestmark = pytest.mark.inspector

SERVE = [*LLMINST, "serve"]


def inspector(tmp_path: Path, *args: str, expect_tool_error: bool = False) -> dict:
    binary = os.environ.get("LLMINST_INSPECTOR")
    if not binary or not Path(binary).exists():
        pytest.fail(
            "LLMINST_INSPECTOR does not name the mcp-inspector binary; run `tox -e inspector`, "
            "which installs @modelcontextprotocol/inspector from npm"
        )
    env = {**os.environ, "HOME": str(tmp_path)}  # the Inspector keeps a catalog under $HOME
    result = subprocess.run(
        [binary, "--cli", *args], capture_output=True, text=True, timeout=120, env=env
    )
    # The Inspector CLI exits 5 when the tool answered with isError (and prints it first).
    assert result.returncode == (5 if expect_tool_error else 0), result.stdout + result.stderr
    return json.loads(
        result.stdout[: result.stdout.rindex("}") + 1] if expect_tool_error else result.stdout
    )


def test_inspector_lists_the_tools(tmp_path: Path) -> None:
    """The Inspector CLI sees the tools with their input schemas."""
    listing = inspector(tmp_path, *SERVE, "--method", "tools/list")
    tools = {tool["name"]: tool for tool in listing["tools"]}
    assert set(tools) == set(CONTRACT)
    assert tools["execute_llm"]["inputSchema"]["required"] == ["prompt"]
    assert not tools["execute_llm"]["description"].startswith(" ")


def test_inspector_calls_execute_llm_on_echo(tmp_path: Path) -> None:
    """The Inspector CLI calls execute_llm and gets text and structured content."""
    result = inspector(
        tmp_path,
        *SERVE,
        "--method",
        "tools/call",
        "--tool-name",
        "execute_llm",
        "--tool-arg",
        "model=echo",
        "--tool-arg",
        "prompt=hello from the inspector",
    )
    assert result["isError"] is False
    assert result["content"][0]["text"] == "hello from the inspector"
    assert result["structuredContent"]["exit_code"] == 0


def test_inspector_sees_errors_as_tool_errors(tmp_path: Path) -> None:
    """An unknown model reaches the Inspector as isError with the kind in the text."""
    result = inspector(
        tmp_path,
        *SERVE,
        "--method",
        "tools/call",
        "--tool-name",
        "execute_llm",
        "--tool-arg",
        "model=nope",
        "--tool-arg",
        "prompt=x",
        expect_tool_error=True,
    )
    assert result["isError"] is True
    assert result["content"][0]["text"].startswith("unknown_model: ")
