"""Tool results: the output schemas clients see, and the results and error results they get.

Every tool answers with text content and structured content that conforms to its output
schema, also on errors: clients validate it (the TypeScript SDK does even for an error). An
error result's text starts with the error's kind (``timeout: ...``), never the SDK's opaque
"Error executing tool". This module only shapes results: it never runs a call.
"""

from __future__ import annotations

from typing import Any

import attrs
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, create_model

from .._core.status import ModelStatus
from ..errors import CallTimeoutError, LLMError
from ..result import CallResult

__all__ = [
    "ConfigureResult",
    "ExecuteResult",
    "ModelStatusOut",
    "StatusResult",
    "TokenEstimateOut",
    "call_result",
    "error_result",
    "ok_result",
]


def _output_model(cls: type[Any], doc: str) -> type[BaseModel]:
    """The pydantic twin of an attrs class, for the tool's output schema (one field list)."""
    attrs.resolve_types(cls)
    fields: dict[str, Any] = {
        a.name: (a.type, ... if a.default is attrs.NOTHING else a.default)
        for a in attrs.fields(cls)
    }
    return create_model(f"{cls.__name__}Out", __doc__=doc, **fields)


ExecuteResult = _output_model(CallResult, "The complete result of one call.")
ModelStatusOut = _output_model(ModelStatus, "One model's readiness.")


class StatusResult(BaseModel):
    """Every model's readiness."""

    server_version: str
    models: list[ModelStatusOut]  # type: ignore[valid-type]  # built by _output_model
    available: list[str]
    unavailable: list[str]


class TokenEstimateOut(BaseModel):
    model: str
    tokens: int
    characters: int
    family: str
    method: str


class ConfigureResult(BaseModel):
    model: str
    created: bool
    command: list[str]
    timeout_category: str
    rate_limit_patterns: list[str]
    available: bool
    executable_path: str | None
    warnings: list[str]


def ok_result(model: BaseModel, text: str | None = None) -> CallToolResult:
    """A successful result: `model` as structured content, `text` (default: its JSON) as text."""
    data = model.model_dump(mode="json")
    return CallToolResult(
        content=[
            TextContent(
                type="text", text=text if text is not None else model.model_dump_json(indent=2)
            )
        ],
        structured_content=data,
    )


def call_result(result: CallResult) -> BaseModel:
    """A call's result in the shape of the call tools' output schema."""
    return ExecuteResult(**result.to_dict())


def error_result(exc: LLMError, *, model: str | None) -> CallToolResult:
    """An isError result whose text names the kind.

    Clients validate structured content against the tool's output schema even on errors (the
    TypeScript SDK does), so it is attached only for the call tools (`model` is the model the
    call named), as an `ExecuteResult`: the partial result of the call, or an empty one when
    no process ran.
    """
    text = f"{exc.kind}: {exc.message}"
    partial = exc.result
    if isinstance(exc, CallTimeoutError) and partial is not None and partial.output:
        text += f"\n--- partial output ---\n{partial.output}"
    raw = getattr(exc, "raw_output", None)
    if raw:
        text += f"; the raw output follows and is the result's output\n--- raw output ---\n{raw}"
    structured = None
    if model is not None:
        if partial is None:
            partial = CallResult(
                model=model,
                output="",
                success=False,
                exit_code=None,
                attempts=0,
                duration_s=0.0,
                timeout_s=0.0,
                timeout_category="",
                error=exc.message,
                error_kind=exc.kind,
            )
        structured = call_result(partial).model_dump(mode="json")
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=structured,
        is_error=True,
    )
