"""Tool results: one shape per tool, conforming to the published output schemas.

The output schemas write a nullable field as ``"type": [T, "null"]`` (issue 11: clients
validate every result against them, and an ``anyOf`` per field made that slower); they accept
exactly what pydantic's standard ``anyOf`` form accepts, value type by value type.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
from jsonschema import Draft202012Validator
from mcp import Client
from pydantic import BaseModel, TypeAdapter, create_model

from llminst._core import paging
from llminst._core.paging import DEFAULT_MAX_RESULT_CHARS, ResultCap
from llminst._core.result import CallResult
from llminst._core.tokens import TokenEstimate, estimate_tokens
from llminst.server import ServerOptions, create_server
from llminst.server.results import (
    ConfigureResult,
    ExecuteResult,
    ModelStatusOut,
    TokenEstimateOut,
    call_result,
    lean_call,
)

from ..support.models import models_with
from ..support.tools import call_fields

OUTPUT_MODELS = [ExecuteResult, ModelStatusOut, TokenEstimateOut, ConfigureResult]


def schemas(model: type[BaseModel]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The published schema of `model`, and pydantic's standard one for the same fields."""
    fields = {name: (f.annotation, f) for name, f in model.model_fields.items()}
    standard = create_model(model.__name__, __doc__=model.__doc__, **fields)
    return TypeAdapter(model).json_schema(), TypeAdapter(standard).json_schema()


# A value of every JSON type, with the edge cases a type check could confuse.
JSON_VALUES = [None, True, False, 0, -3, 1.5, 2.0, "", "x", [], ["x"], [1], {}, {"a": 1}]


@pytest.mark.parametrize("model", OUTPUT_MODELS, ids=lambda m: m.__name__)
def test_nullable_fields_are_type_lists(model: type[BaseModel]) -> None:
    """No property of a published output schema is an anyOf of bare types."""
    published, _ = schemas(model)
    for name, prop in published["properties"].items():
        assert "anyOf" not in prop, (name, prop)


@pytest.mark.parametrize("model", OUTPUT_MODELS, ids=lambda m: m.__name__)
def test_the_lean_schema_accepts_what_the_standard_one_does(model: type[BaseModel]) -> None:
    """Property by property, both schemas accept the same values of every JSON type; the
    rest of the schema (required fields, title, description) is the same."""
    published, standard = schemas(model)
    assert {k: v for k, v in published.items() if k != "properties"} == {
        k: v for k, v in standard.items() if k != "properties"
    }
    assert list(published["properties"]) == list(standard["properties"])
    for name, prop in published["properties"].items():
        lean = Draft202012Validator(prop)
        reference = Draft202012Validator(standard["properties"][name])
        for value in JSON_VALUES:
            assert lean.is_valid(value) == reference.is_valid(value), (name, value)


@asynccontextmanager
async def connect() -> AsyncIterator[tuple[Client, dict[str, Any]]]:
    async with Client(create_server(ServerOptions(models=models_with()))) as client:
        tools = {t.name: t.output_schema for t in (await client.list_tools()).tools}
        yield client, tools


def text_of(result: Any) -> str:
    return "".join(c.text for c in result.content if c.type == "text")


async def test_a_call_result_is_the_call_results_fields() -> None:
    """execute_llm's structured content is exactly the CallResult, field for field, and
    whether the output was cut to the result cap; a field that holds the default the output
    schema states for it is left out (a client reads it as that default)."""
    async with connect() as (client, _):
        result = await client.call_tool("execute_llm", {"model": "echo", "prompt": "hi"})
    sent = dict(result.structured_content)
    properties = ExecuteResult.model_json_schema()["properties"]
    defaults = {name: prop["default"] for name, prop in properties.items() if "default" in prop}
    left_out = set(defaults) - set(sent)
    assert left_out == {
        *("parsed_json", "usage", "cost_usd", "session_id", "session", "stderr_tail"),
        *("truncated", "error", "error_kind", "peak_rss_mb", "cost_source", "cached"),
        *("cached_call_id", "result_truncated"),
    }
    assert all(sent[name] != defaults[name] for name in sent if name in defaults)
    order = [a.name for a in attrs.fields(CallResult)] + ["result_truncated"]
    assert list(sent) == [name for name in order if name in sent]  # in the fields' order
    data = call_fields(sent)
    assert data.pop("result_truncated") is False
    assert set(data) == {a.name for a in attrs.fields(CallResult)}
    assert CallResult(**data).to_dict() == data


async def test_a_field_that_differs_from_its_default_is_sent() -> None:
    """`lean_call` leaves out only a value equal to the stated default and of its type: 0 is
    not false, an empty list is not null; a field with no stated default is always sent."""
    base = CallResult(
        model="m",
        output="",
        success=False,
        exit_code=None,
        attempts=0,
        duration_s=0.0,
        timeout_s=1.0,
        timeout_category="quick",
        cost_usd=0.0,
        truncated=True,
        stderr_tail=" ",
        usage={},
    ).to_dict()
    lean = lean_call(base)
    assert lean["exit_code"] is None and lean["attempts"] == 0  # required: always sent
    assert lean["cost_usd"] == 0.0 and lean["truncated"] is True and lean["stderr_tail"] == " "
    assert lean["usage"] == {} and lean["fallback_chain"] == []  # no default stated for it
    assert "error" not in lean and "cached" not in lean
    assert call_fields(lean) == {**base, "result_truncated": False}


def test_an_output_over_the_cap_is_estimated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cutting an output over the result cap runs the token estimate over its first piece once
    (plus the search for where the last block ends), not once to see that it does not fit and
    again to cut it: ~13 ms of a call's result for 80,000 characters."""
    estimated: list[int] = []

    def counted(text: str, model: str) -> TokenEstimate:
        estimated.append(len(text))
        return estimate_tokens(text, model)

    monkeypatch.setattr(paging, "estimate_tokens", counted)
    output = "The quick brown fox jumps over the lazy dog, then rests a while.\n" * 3000
    call = CallResult(
        model="m",
        output=output,
        success=True,
        exit_code=0,
        attempts=1,
        duration_s=0.1,
        timeout_s=60.0,
        timeout_category="quick",
        call_id="abc-1",
    )
    result = call_result(call, text=output, cap=ResultCap())
    assert result.structured_content is not None
    assert result.structured_content["result_truncated"] is True
    assert len(result.structured_content["output"]) == DEFAULT_MAX_RESULT_CHARS
    assert sum(estimated) <= DEFAULT_MAX_RESULT_CHARS + 2048 * 12


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("get_llm_status", {}),
        ("estimate_tokens", {"text": "héllo wörld"}),
        ("configure_llm", {"model": "later", "command": ["not-installed-cli"]}),
    ],
)
async def test_the_other_tools_text_is_their_structured_content(
    tool: str, arguments: dict[str, Any]
) -> None:
    """Without an answer text, the text content is the structured content as indented JSON
    (non-ASCII written as itself), and it conforms to the published schema."""
    async with connect() as (client, schemas_by_tool):
        result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    assert text_of(result) == json.dumps(result.structured_content, ensure_ascii=False, indent=2)
    Draft202012Validator(schemas_by_tool[tool]).validate(result.structured_content)


@pytest.mark.parametrize(
    "arguments",
    [
        {"model": "nope", "prompt": "x"},
        {"model": "echo", "prompt": "[[echo:exit=3]]"},
        {"model": "echo", "prompt": 5},
    ],
    ids=["no-process", "partial-result", "bad-arguments"],
)
async def test_an_error_result_conforms_to_the_published_schema(arguments: dict[str, Any]) -> None:
    """Clients validate isError results too (the TypeScript SDK does): they conform."""
    async with connect() as (client, schemas_by_tool):
        result = await client.call_tool("execute_llm", arguments)
    assert result.is_error
    Draft202012Validator(schemas_by_tool["execute_llm"]).validate(result.structured_content)
    assert result.structured_content["error_kind"] == text_of(result).split(":")[0]
