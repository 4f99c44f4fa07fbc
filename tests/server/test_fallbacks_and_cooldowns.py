"""Fallbacks and cooldowns through the real MCP SDK client (in memory): the tools' `fallbacks`
argument, `fallback_chain` in the structured result, refusals, and cooldowns in the status."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from llminst import ModelSpec
from llminst.server.results import ExecuteResult

from ..support.counting import counting_echo, spawns
from ..support.progress import ProgressRecorder
from ..support.tools import connect, text_of

GHOST = ModelSpec(name="ghost", command=("llminst-no-such-cli",), install_hint="pip install ghost")


async def test_execute_llm_falls_back_and_says_so(mode: str, tmp_path: Path, echo_state) -> None:
    """The ghost CLI is not installed: the answer comes from the fallback, the structured
    result names it and lists the ghost with why it was passed over."""
    backup = counting_echo(tmp_path, "backup")
    async with connect(mode, GHOST, backup) as client:
        result = await client.call_tool(
            "execute_llm", {"model": "ghost", "prompt": "hello", "fallbacks": ["backup"]}
        )
    assert not result.is_error, text_of(result)
    assert text_of(result) == "hello"
    structured = ExecuteResult.model_validate(result.structured_content)
    assert structured.model == "backup"
    [passed] = result.structured_content["fallback_chain"]
    assert passed["model"] == "ghost" and passed["error_kind"] == "cli_not_found"
    assert passed["started"] is False and "pip install ghost" in passed["error"]
    assert spawns(tmp_path, "backup") == 1


async def test_stream_llm_streams_the_fallbacks_answer(
    mode: str, tmp_path: Path, echo_state
) -> None:
    backup = counting_echo(tmp_path, "backup")
    async with connect(mode, GHOST, backup) as client:
        progress = ProgressRecorder()
        result = await client.call_tool(
            "stream_llm",
            {"model": "ghost", "prompt": "one two three", "fallbacks": ["backup"]},
            progress_callback=progress,
        )
        await progress.wait_for_text("one two three")
    assert text_of(result) == "one two three"
    assert result.structured_content["model"] == "backup"


@pytest.mark.parametrize(
    ("fallbacks", "expected"),
    [
        (["nope"], "unknown_model: fallback of model 'echo': unknown model 'nope'"),
        ("backup", "invalid_input: fallbacks: expected"),
        ([1], "invalid_input: fallbacks"),
    ],
)
async def test_bad_fallbacks_are_refused_before_anything_starts(
    mode: str, fallbacks: object, expected: str
) -> None:
    async with connect(mode) as client:
        result = await client.call_tool(
            "execute_llm", {"model": "echo", "prompt": "x", "fallbacks": fallbacks}
        )
    assert result.is_error and text_of(result).startswith(expected), text_of(result)
    assert result.structured_content["attempts"] == 0


async def test_a_cooldown_shows_in_the_status_and_refuses_without_a_spawn(
    mode: str, tmp_path: Path, echo_state
) -> None:
    limited = counting_echo(tmp_path, "lim")
    async with connect(mode, limited) as client:
        first = await client.call_tool(
            "execute_llm",
            {
                "model": "lim",
                "prompt": "[[echo:rate-limit=9]] [[echo:reset-in=7200]] x",
                "timeout": 30,
            },
        )
        second = await client.call_tool("execute_llm", {"model": "lim", "prompt": "hi"})
        status = await client.call_tool("get_llm_status", {})
    assert text_of(first).startswith("rate_limited: ")
    assert text_of(second).startswith("rate_limited: model 'lim' is cooling down")
    assert spawns(tmp_path, "lim") == 1
    models = {m["model"]: m for m in status.structured_content["models"]}
    assert models["lim"]["account"] == "lim_cli.py"
    assert models["lim"]["cooldown_until"] == pytest.approx(time.time() + 7200, abs=120)
    assert "rate limit exceeded" in models["lim"]["cooldown_reason"]
    assert models["echo"]["cooldown_until"] is None
