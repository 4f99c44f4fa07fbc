"""cwd and system_prompt on the call tools, through the SDK's in-memory client: the CLI (a real
process) runs where the call says and receives the system prompt; a directory outside the
server's allowed roots is an ``invalid_input`` result, and so is configure_llm's cwd there."""

from __future__ import annotations

import sys
from pathlib import Path

from llminst import ModelSpec
from llminst.server import ExecuteResult

from ..support.paths import FAKECLI
from ..support.progress import ProgressRecorder
from ..support.tools import connect, text_of

PWD = ModelSpec(name="pwd", command=(sys.executable, FAKECLI, "pwd"))


async def test_execute_llm_runs_the_cli_in_the_calls_directory(mode: str, tmp_path: Path) -> None:
    async with connect(mode, PWD) as client:
        for stream in (False, True):  # in the tool's task, and as a stream with progress
            result = await client.call_tool(
                "execute_llm",
                {"model": "pwd", "prompt": "x", "cwd": str(tmp_path), "stream": stream},
                progress_callback=ProgressRecorder(),
            )
            assert not result.is_error, text_of(result)
            assert text_of(result).strip() == str(tmp_path)


async def test_stream_llm_takes_cwd_and_system_prompt(mode: str, tmp_path: Path) -> None:
    recorder = ProgressRecorder()
    async with connect(mode) as client:
        result = await client.call_tool(
            "stream_llm",
            {"model": "echo", "prompt": "hi", "system_prompt": "be brief", "cwd": str(tmp_path)},
            progress_callback=recorder,
        )
    assert text_of(result) == "<system>\nbe brief\n</system>\n\nhi"


async def test_execute_llm_refuses_a_missing_directory_naming_it(mode: str, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    async with connect(mode, PWD) as client:
        result = await client.call_tool(
            "execute_llm", {"model": "pwd", "prompt": "x", "cwd": missing}
        )
        still = await client.call_tool("execute_llm", {"model": "echo", "prompt": "alive"})
    assert result.is_error
    assert text_of(result).startswith(f"invalid_input: cwd: no such directory: {missing!r}")
    assert ExecuteResult.model_validate(result.structured_content).error_kind == "invalid_input"
    assert text_of(still) == "alive"


async def test_outside_the_allowed_roots_is_refused(mode: str, tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    async with connect(mode, PWD, allowed_roots=(str(root),)) as client:
        inside = await client.call_tool(
            "execute_llm", {"model": "pwd", "prompt": "x", "cwd": str(root)}
        )
        refused = {
            path: await client.call_tool(
                "execute_llm", {"model": "pwd", "prompt": "x", "cwd": path}
            )
            for path in (str(outside), str(root / "escape"), "/")
        }
    assert text_of(inside).strip() == str(root)
    for path, result in refused.items():
        assert result.is_error
        assert text_of(result).startswith(f"invalid_input: cwd: {path!r}"), text_of(result)
        assert "allowed roots" in text_of(result)


async def test_no_roots_over_http_means_no_cwd(mode: str, tmp_path: Path) -> None:
    """allowed_roots=() (HTTP without roots): a call without cwd runs, one with cwd does not."""
    async with connect(mode, PWD, allowed_roots=()) as client:
        plain = await client.call_tool("execute_llm", {"model": "echo", "prompt": "hi"})
        refused = await client.call_tool(
            "execute_llm", {"model": "pwd", "prompt": "x", "cwd": str(tmp_path)}
        )
    assert text_of(plain) == "hi"
    assert text_of(refused).startswith("invalid_input: cwd: this server runs calls")
    assert "[server] allowed_roots" in text_of(refused)


async def test_configure_llm_cwd_obeys_the_roots(mode: str, tmp_path: Path) -> None:
    """A model's directory is every call's directory: outside the roots it is refused too; inside
    it is stored resolved."""
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "link").symlink_to(root)
    command = [sys.executable, FAKECLI, "pwd"]
    async with connect(mode, allowed_roots=(str(root),)) as client:
        refused = await client.call_tool(
            "configure_llm", {"model": "m", "command": command, "cwd": str(tmp_path)}
        )
        configured = await client.call_tool(
            "configure_llm", {"model": "m", "command": command, "cwd": str(tmp_path / "link")}
        )
        ran = await client.call_tool("execute_llm", {"model": "m", "prompt": "x"})
    assert refused.is_error and text_of(refused).startswith("invalid_input: cwd: ")
    assert not configured.is_error, text_of(configured)
    assert text_of(ran).strip() == str(root)


async def test_a_system_prompt_of_the_wrong_type_is_invalid_input(mode: str) -> None:
    async with connect(mode) as client:
        result = await client.call_tool(
            "execute_llm", {"model": "echo", "prompt": "x", "system_prompt": 5, "cwd": 1}
        )
    assert text_of(result) == (
        "invalid_input: system_prompt: expected a string or null, got 5; "
        "cwd: expected a string or null, got 1"
    )
