"""Tool arguments: one strict check for every MCP tool, with errors a client can act on.

The MCP SDK checks a tool's arguments itself, leniently (``true`` passes as the number 1, ``"30"``
as 30, unknown keys are dropped), and reports a failure as pydantic's text. Instead, each tool is
registered here with a strict twin of its argument model (no coercion: booleans are not numbers,
strings are not numbers, unknown keys are refused), the SDK hands the arguments over as they
arrived, and the tool's wrapper checks them with `check_arguments`. Every problem becomes one
clause naming the argument (or the path inside it), what was expected and what was given, in the
config file's wording; the whole is an `InvalidInputError`, so the tool's usual error handling
turns it into an ``invalid_input:`` result.

This module owns nothing else: it never runs a tool and knows nothing of what the tools do.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import cache
from typing import Any, cast

from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import ToolAnnotations
from pydantic import ConfigDict, ValidationError

from .._core.errors import InvalidInputError

__all__ = ["ArgumentsModel", "ToolBody", "check_arguments", "strict_tool"]

ArgumentsModel = type[ArgModelBase]
ToolBody = Callable[..., Awaitable[Any]]


class _ArgumentsAsSent(FuncMetadata):
    """The SDK's function metadata, minus its argument validation.

    The tool receives the client's arguments as one mapping, ``arguments=``, after the SDK's
    JSON-text pre-parsing (a list or object sent as JSON text becomes that list or object, as
    clients such as Claude Desktop need). Passing them as one mapping keeps a client's key from
    ever colliding with the injected context.
    """

    def validate_arguments(self, arguments_to_validate: dict[str, Any]) -> dict[str, Any]:
        return {"arguments": self.pre_parse_json(arguments_to_validate)}


def strict_tool(
    body: ToolBody,
    wrap: Callable[[ToolBody, ArgumentsModel], ToolBody],
    *,
    description: str,
    annotations: ToolAnnotations,
) -> Tool:
    """Register `body` (a typed tool function) so that `wrap`'s wrapper checks its arguments.

    The published input schema is the strict model's (``additionalProperties: false``).

    Args:
        body: the tool function; its signature is the tool's schema.
        wrap: builds the function the SDK calls, ``(*, ctx, arguments)``, from `body` and the
            strict argument model to check `arguments` against with `check_arguments`.
        description: the tool's description.
        annotations: the tool's MCP annotations.
    """
    tool = Tool.from_function(body, description=description, annotations=annotations)
    meta = tool.fn_metadata
    strict = _strict_model(meta.arg_model)
    as_sent = _ArgumentsAsSent(
        arg_model=meta.arg_model,
        output_schema=meta.output_schema,
        output_model=meta.output_model,
        wrap_output=meta.wrap_output,
    )
    return tool.model_copy(
        update={
            "fn": wrap(body, strict),
            "fn_metadata": as_sent,
            "parameters": strict.model_json_schema(by_alias=True),
        }
    )


def _strict_model(model: ArgumentsModel) -> ArgumentsModel:
    config = ConfigDict(strict=True, extra="forbid", arbitrary_types_allowed=True)
    namespace = {"model_config": config, "__doc__": model.__doc__, "__module__": __name__}
    return cast(ArgumentsModel, type(model.__name__, (model,), namespace))


def check_arguments(model: ArgumentsModel, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The tool function's keyword arguments, from a client's arguments checked against `model`.

    Raises:
        InvalidInputError: one clause per problem, in the tool's argument order, then the
            unknown keys with the valid ones: ``prompt: required key is missing, expected a
            string (the description)``, ``timeout: expected a number or null, got true``,
            ``command[1]: expected a string, got 5``, ``unknown key(s) 'x'; valid keys: ...``.
    """
    try:
        checked = model.model_validate(arguments)
    except ValidationError as exc:
        raise InvalidInputError(_describe(exc, arguments, model)) from None
    return checked.model_dump_one_level()


def _describe(exc: ValidationError, arguments: Mapping[str, Any], model: ArgumentsModel) -> str:
    properties = _properties(model)
    problems: dict[str, tuple[int, str]] = {}  # argument -> (depth of the path, clause)
    unknown: list[str] = []
    for error in exc.errors():
        if not error["loc"]:  # the arguments as a whole (the SDK only passes objects)
            return f"arguments: {error['msg']}; expected an object of named arguments"
        name = str(error["loc"][0])
        if error["type"] == "extra_forbidden":
            unknown.append(name if len(name) <= 60 else name[:57] + "...")
            continue
        depth, clause = _clause(error, arguments, properties.get(name, {}))
        # Of a union's errors, the one that got deepest into the value says the most.
        if name not in problems or depth > problems[name][0]:
            problems[name] = (depth, clause)
    clauses = [problems[name][1] for name in properties if name in problems]
    if unknown:
        clauses.append(f"unknown key(s) {', '.join(map(repr, sorted(unknown)))}")
        clauses.append(f"valid keys: {', '.join(sorted(properties))}")
    return "; ".join(clauses)


def _clause(error: Any, arguments: Mapping[str, Any], schema: Mapping[str, Any]) -> tuple[int, str]:
    name = str(error["loc"][0])
    if error["type"] == "missing":
        return 0, f"{name}: required key is missing, expected {_expected(schema)}{_about(schema)}"
    path, value = _walk(arguments.get(name), error["loc"][1:])
    if not path:
        return 0, f"{name}: expected {_expected(schema)}, got {_shown(value)}"
    where = name + "".join(f"[{step!r}]" for step in path)
    expected = _EXPECTED_BY_ERROR.get(error["type"])
    if expected is None:
        return len(path), f"{where}: {error['msg'][:1].lower()}{error['msg'][1:]}"
    return len(path), f"{where}: expected {expected}, got {_shown(value)}"


def _walk(value: Any, loc: Sequence[int | str]) -> tuple[list[int | str], Any]:
    """Follow an error's location into the value, skipping the steps that name a union member."""
    path: list[int | str] = []
    for step in loc:
        in_list = isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value)
        if in_list or (isinstance(value, dict) and step in value):
            value = value[step]
            path.append(step)
    return path, value


@cache
def _properties(model: ArgumentsModel) -> dict[str, dict[str, Any]]:
    properties: dict[str, dict[str, Any]] = model.model_json_schema(by_alias=True)["properties"]
    return properties


_EXPECTED_BY_ERROR = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "an array",
    "dict_type": "an object",
}

_JSON_TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _expected(schema: Mapping[str, Any]) -> str:
    """What a JSON schema accepts, in words: 'an array of strings or a string'."""
    if "anyOf" in schema:
        return " or ".join(_expected(member) for member in schema["anyOf"])
    if "enum" in schema:  # a Literal: name the values, not just their type
        return "one of " + ", ".join(json.dumps(value) for value in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items", {})
        return "an array" if not items else f"an array of {_plural(_expected(items))}"
    if kind == "object":
        values = schema.get("additionalProperties")
        if isinstance(values, Mapping) and values:
            return f"an object of {_plural(_expected(values))}"
        return "an object"
    return _JSON_TYPES.get(str(kind), "a JSON value")


def _plural(expected: str) -> str:
    return expected.removeprefix("an ").removeprefix("a ") + "s"


def _about(schema: Mapping[str, Any]) -> str:
    description = schema.get("description")
    return f" ({description.rstrip('.')})" if description else ""


def _shown(value: Any) -> str:
    """A value as the client wrote it in JSON, shortened; containers by their kind."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    text = json.dumps(value, ensure_ascii=False, default=repr)
    text = text if len(text) <= 60 else text[:57] + "..."
    # A lone surrogate cannot go back on the wire as text: show it escaped.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
