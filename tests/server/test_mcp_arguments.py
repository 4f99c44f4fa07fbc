"""Tool arguments, checked once for every tool, through the SDK's in-memory client.

Regression (issue 10): a missing or mistyped argument got the SDK's pydantic text ("Error executing
tool execute_llm: 1 validation error ... https://errors.pydantic.dev/...") with no kind and no
structured content, ``"timeout": true`` ran as a one-second timeout, and unknown keys (a misspelt
``timout``) were silently dropped.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations

from llminst._core.errors import InvalidInputError
from llminst.server import ExecuteResult
from llminst.server.arguments import ArgumentsModel, ToolBody, check_arguments, strict_tool

from ..support.tools import CONTRACT, connect, text_of

CALL_TOOLS = {"execute_llm", "stream_llm"}
SHOUT = [sys.executable, "-c", "import sys; print(sys.argv[-1].upper(), end='')"]
VALID = {
    "execute_llm": {"model": "echo", "prompt": "x"},
    "stream_llm": {"model": "echo", "prompt": "x"},
    "get_llm_status": {},
    "estimate_tokens": {"text": "x"},
    "list_llm_sessions": {},
    "configure_llm": {"model": "shout", "command": SHOUT},
    "compare_llms": {"models": ["echo"], "prompt": "x"},
    "get_llm_usage": {},
    "start_llm": {"model": "echo", "prompt": "x"},
    "get_llm_result": {"call_id": "x"},
    "cancel_llm": {"call_id": "x"},
    "list_llm_calls": {},
}

# (tool, arguments, argument named, what the text must say is expected)
BAD_ARGUMENTS = [
    ("execute_llm", {"model": "echo"}, "prompt", "required key is missing, expected a string"),
    ("stream_llm", {"prompt": "x"}, "model", "required key is missing, expected a string"),
    ("estimate_tokens", {}, "text", "required key is missing, expected a string"),
    ("configure_llm", {"command": SHOUT}, "model", "required key is missing, expected a string"),
    ("get_llm_usage", {"group_by": "week"}, "group_by", 'one of "model", "day", "session"'),
    ("execute_llm", {"model": "echo", "prompt": 42}, "prompt", "expected a string"),
    ("stream_llm", {"model": ["echo"], "prompt": "x"}, "model", "expected a string"),
    ("get_llm_status", {"probe": "yes"}, "probe", "expected true or false"),
    ("estimate_tokens", {"text": None}, "text", "expected a string"),
    ("configure_llm", {"model": "shout", "command": 7}, "command", "expected an array of strings"),
    ("execute_llm", {"model": "echo", "prompt": "x", "timeout": True}, "timeout", "a number"),
    ("stream_llm", {"model": "echo", "prompt": "x", "timeout": False}, "timeout", "a number"),
    ("execute_llm", {"model": "echo", "prompt": "x", "timeout": "30"}, "timeout", "a number"),
    ("configure_llm", {**VALID["configure_llm"], "max_attempts": True}, "max_attempts", "integer"),
    ("configure_llm", {**VALID["configure_llm"], "max_concurrency": 2.5}, "max_concurrency", "int"),
    ("execute_llm", {"model": "echo", "prompt": "x", "stream": "no"}, "stream", "true or false"),
    ("compare_llms", {"prompt": "x"}, "models", "required key is missing, expected an array"),
    ("compare_llms", {"prompt": "x", "models": ["echo", 3]}, "models[1]", "expected a string"),
    ("compare_llms", {"prompt": "x", "models": ["echo"], "timeout": "9"}, "timeout", "a number"),
]


@pytest.mark.parametrize(
    ("tool", "arguments", "name", "expected"),
    BAD_ARGUMENTS,
    ids=[f"{tool}-{name}-{i}" for i, (tool, _, name, _) in enumerate(BAD_ARGUMENTS)],
)
async def test_a_bad_argument_gets_invalid_input_naming_it_and_the_fix(
    mode: str, tool: str, arguments: dict[str, Any], name: str, expected: str, echo_state
) -> None:
    """Missing, wrongly typed, or a boolean where a number goes: `invalid_input: NAME: ...`
    saying what is expected, never pydantic's text; call tools still carry a conforming result."""
    async with connect(mode) as client:
        result = await client.call_tool(tool, arguments)
        still_serving = await client.call_tool("execute_llm", {"model": "echo", "prompt": "ok"})
    text = text_of(result)
    assert result.is_error
    assert text.startswith(f"invalid_input: {name}: "), text
    assert expected in text, text
    assert "pydantic" not in text and "Error executing tool" not in text, text
    if tool in CALL_TOOLS:
        structured = ExecuteResult.model_validate(result.structured_content)
        assert structured.error_kind == "invalid_input" and structured.success is False
        assert structured.attempts == 0 and structured.error == text.removeprefix("invalid_input: ")
    assert text_of(still_serving) == "ok"


@pytest.mark.parametrize("tool", sorted(CONTRACT))
async def test_an_unknown_key_is_refused_with_the_valid_keys(
    mode: str, tool: str, echo_state
) -> None:
    """A misspelt argument is refused, not ignored, listing the valid keys (the config file's
    wording); the published input schema says so too (additionalProperties: false)."""
    async with connect(mode) as client:
        result = await client.call_tool(tool, {**VALID[tool], "timout": 5, "extra": "x"})
        schema = {t.name: t.input_schema for t in (await client.list_tools()).tools}[tool]
    text = text_of(result)
    valid = ", ".join(sorted(CONTRACT[tool]))
    assert result.is_error
    assert text == f"invalid_input: unknown key(s) 'extra', 'timout'; valid keys: {valid}", text
    if tool in CALL_TOOLS:
        assert ExecuteResult.model_validate(result.structured_content).error_kind == "invalid_input"
    assert schema["additionalProperties"] is False


async def test_every_problem_is_reported_at_once_in_argument_order(mode: str) -> None:
    """Several problems give one line each, in the tool's argument order, unknown keys last."""
    arguments = {"prompt": 1, "timeout": True, "json_mode": "yes", "colour": "red"}
    async with connect(mode) as client:
        result = await client.call_tool("execute_llm", arguments)
    assert text_of(result) == (
        "invalid_input: prompt: expected a string, got 1; "
        "timeout: expected a number or null, got true; "
        'json_mode: expected true or false, got "yes"; '
        "unknown key(s) 'colour'; valid keys: cache, cwd, fallbacks, json_mode, json_schema, "
        "model, prompt, session, stream, system_prompt, timeout"
    )


async def test_a_nested_problem_names_its_path(mode: str) -> None:
    """A wrong element inside a list or object is named by its path, with what it should be."""
    async with connect(mode) as client:
        element = await client.call_tool(
            "configure_llm", {"model": "shout", "command": ["mycli", 5]}
        )
        value = await client.call_tool(
            "configure_llm", {"model": "shout", "command": SHOUT, "env": {"TOKEN_FILE": 3}}
        )
    assert text_of(element) == "invalid_input: command[1]: expected a string, got 5"
    assert text_of(value) == "invalid_input: env['TOKEN_FILE']: expected a string, got 3"


async def test_numbers_take_integers_and_json_text_is_still_accepted(mode: str, echo_state) -> None:
    """An integer timeout is a number; a list or schema sent as JSON text still works (clients
    such as Claude Desktop send them that way)."""
    async with connect(mode) as client:
        ran = await client.call_tool(
            "execute_llm", {"model": "echo", "prompt": "whole seconds", "timeout": 30}
        )
        configured = await client.call_tool(
            "configure_llm", {"model": "shout", "command": '["sh", "-c", "echo hi"]'}
        )
    assert not ran.is_error and ran.structured_content["timeout_s"] == 30
    assert configured.structured_content["command"] == ["sh", "-c", "echo hi"]


def test_check_arguments_refuses_what_is_not_an_object_and_shortens_long_keys() -> None:
    """Directly: arguments that are not an object are named as such, and an unknown key is
    quoted at most 60 characters long (a client's key is not echoed back whole)."""
    models: list[ArgumentsModel] = []

    async def probe(ctx: Context, n: int = 1) -> None:
        """A tool with one integer argument."""

    def keep(body: ToolBody, strict: ArgumentsModel) -> ToolBody:
        models.append(strict)
        return body

    strict_tool(probe, keep, description="probe", annotations=ToolAnnotations())
    with pytest.raises(InvalidInputError, match=r"^arguments: .*expected an object"):
        check_arguments(models[0], [])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError) as info:
        check_arguments(models[0], {"k" * 1000: 1})
    assert str(info.value) == f"unknown key(s) '{'k' * 57}...'; valid keys: n"
    assert check_arguments(models[0], {"n": 3}) == {"n": 3}
