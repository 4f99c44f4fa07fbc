"""configure_llm's arguments are generated from ModelSpec's fields, so none can be forgotten.

Regression (issue 11): configure_llm restated every spec field by hand and had fallen behind
(`unreachable_patterns`, `unreachable_hint` and `argv_prompt_limit` could be set in a config
file but not at runtime). More configure_llm behaviour is in test_mcp_tools.py.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
from mcp import Client

from llminst._core.spec import ModelSpec
from llminst.server import ServerOptions, create_server
from llminst.server.configure import KEY_DESCRIPTIONS

from ..support.models import models_with
from ..support.paths import FAKECLI

SPEC_KEYS = [a.name for a in attrs.fields(ModelSpec) if a.name != "name"]


@asynccontextmanager
async def connect() -> AsyncIterator[Client]:
    async with Client(create_server(ServerOptions(models=models_with()))) as client:
        yield client


def text_of(result: Any) -> str:
    return "".join(c.text for c in result.content if c.type == "text")


def test_every_spec_field_has_exactly_one_description() -> None:
    """A new ModelSpec field fails here until configure_llm describes it (and so takes it)."""
    assert sorted(KEY_DESCRIPTIONS) == sorted(SPEC_KEYS)


@pytest.mark.parametrize(
    "key",
    [
        a.name
        for a in attrs.fields(attrs.resolve_types(ModelSpec))
        if isinstance(a.type, type) and issubclass(a.type, enum.Enum)
    ],
)
def test_a_choice_is_described_with_every_value(key: str) -> None:
    """The description of an enum field names each of its values (it had fallen behind)."""
    field_type = attrs.fields_dict(ModelSpec)[key].type
    for member in field_type:
        assert member.value in KEY_DESCRIPTIONS[key], (key, member.value)


async def test_the_tool_takes_every_spec_field_with_its_description() -> None:
    """The input schema lists model, then every spec field, each optional and described."""
    async with connect() as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    schema = tools["configure_llm"].input_schema
    assert sorted(schema["properties"]) == sorted(["model", *SPEC_KEYS])
    assert schema["required"] == ["model"]
    for key in SPEC_KEYS:
        assert schema["properties"][key]["description"] == KEY_DESCRIPTIONS[key]
        assert schema["properties"][key]["default"] is None


async def test_unreachable_patterns_and_hint_take_effect() -> None:
    """A model configured at runtime with its own unreachable wording and hint reports a
    matching failure as api_unreachable, with that hint."""
    failing = [sys.executable, FAKECLI, "fail", "1", "kaput: the mothership is gone"]
    async with connect() as client:
        configured = await client.call_tool(
            "configure_llm",
            {
                "model": "remote",
                "command": failing,
                "unreachable_patterns": ["mothership is gone"],
                "unreachable_hint": "set MOTHERSHIP_URL",
            },
        )
        ran = await client.call_tool("execute_llm", {"model": "remote", "prompt": "x"})
    assert not configured.is_error, text_of(configured)
    assert ran.is_error and text_of(ran).startswith("api_unreachable: "), text_of(ran)
    assert "set MOTHERSHIP_URL" in text_of(ran)


async def test_argv_prompt_limit_takes_effect() -> None:
    """A prompt over a model's argv_prompt_limit goes to stdin when the CLI reads stdin."""
    dump = [sys.executable, FAKECLI, "dump"]
    async with connect() as client:
        configured = await client.call_tool(
            "configure_llm",
            {"model": "small", "command": dump, "stdin_fallback": True, "argv_prompt_limit": 4},
        )
        short = await client.call_tool("execute_llm", {"model": "small", "prompt": "tiny"})
        long = await client.call_tool("execute_llm", {"model": "small", "prompt": "larger"})
        bad = await client.call_tool("configure_llm", {"model": "small", "argv_prompt_limit": 0})
    assert not configured.is_error, text_of(configured)
    assert json.loads(text_of(short)) == {"argv": ["tiny"], "stdin": ""}
    assert json.loads(text_of(long)) == {"argv": [], "stdin": "bGFyZ2Vy"}  # base64 of "larger"
    assert bad.is_error and "argv_prompt_limit must be at least 1" in text_of(bad), text_of(bad)
