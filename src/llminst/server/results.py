"""Tool results: the output schemas clients see, and the results and error results they get.

Every tool answers with text content and structured content that conforms to its output
schema, also on errors: clients validate it (the TypeScript SDK does even for an error). A
result changes form once: the attrs value a tool got (a `CallResult`, a `ModelStatus`) becomes
the structured content, a JSON-ready dict, and the text is the answer or that dict as JSON. The
pydantic models here only describe the output schemas. A call's result leaves out the fields
that hold the default its schema states (`lean_call`). An error result's text starts with the
error's kind (``timeout: ...``), never the SDK's opaque "Error executing tool".

This module only shapes results: it never runs a call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic_core import to_json

from .. import __version__
from .._core.errors import CallTimeoutError, LLMError
from .._core.paging import Piece, ResultCap, fit, truncation_marker
from .._core.records import SessionRecord
from .._core.result import CallResult
from .._core.sessions import session_summary
from .._core.status import ModelStatus

if TYPE_CHECKING:
    from ..replicas.health import StoreHealth

__all__ = [
    "CallListResult",
    "CallPieceResult",
    "CallSummaryOut",
    "CancelResult",
    "CompareOut",
    "ConfigureResult",
    "ExecuteResult",
    "ModelStatusOut",
    "SessionsResult",
    "StartResult",
    "StatusResult",
    "TokenEstimateOut",
    "call_result",
    "error_result",
    "lean_call",
    "ok_result",
    "sessions_result",
    "status_result",
]


def _nullable_as_type_list(schema: dict[str, Any]) -> None:
    """``"type": ["integer", "null"]`` for a property pydantic writes as an ``anyOf`` of bare
    types: the same values validate, and clients check results against it faster."""
    for prop in schema.get("properties", {}).values():
        members = prop.get("anyOf")
        if members and all(_bare_type(member) for member in members):
            del prop["anyOf"]
            prop["type"] = [member["type"] for member in members]


def _bare_type(member: Mapping[str, Any]) -> bool:
    # An object with any properties is a bare object: additionalProperties true is the default.
    return member.keys() == {"type"} or dict(member) == {
        "type": "object",
        "additionalProperties": True,
    }


_LEAN = ConfigDict(json_schema_extra=_nullable_as_type_list)


def _output_model(cls: type[Any], doc: str, **extra: tuple[Any, Any]) -> type[BaseModel]:
    """The output schema of an attrs class: a pydantic model with its fields (one field list)
    and the `extra` ones ``name=(type, default)``."""
    attrs.resolve_types(cls)
    fields: dict[str, Any] = {a.name: (a.type, _default(a)) for a in attrs.fields(cls)}
    fields.update(extra)
    return create_model(f"{cls.__name__}Out", __doc__=doc, __config__=_LEAN, **fields)


def _default(field: attrs.Attribute[Any]) -> Any:
    """The field's default as pydantic takes it: required, a value, or a factory."""
    if field.default is attrs.NOTHING:
        return ...
    factory = getattr(field.default, "factory", None)  # attrs.Factory
    if factory is not None:
        return Field(default_factory=factory)
    return field.default


ExecuteResult = _output_model(
    CallResult,
    "The complete result of one call; with result_truncated, output is its first piece.",
    result_truncated=(bool, False),
)
ModelStatusOut = _output_model(ModelStatus, "One model's readiness.")

# A call's result fields whose output schema states a default, and that default.
_CALL_DEFAULTS: dict[str, Any] = {
    name: prop["default"]
    for name, prop in ExecuteResult.model_json_schema()["properties"].items()
    if "default" in prop
}


def lean_call(data: dict[str, Any]) -> dict[str, Any]:
    """`data`, a call's result, without the fields that hold the default the output schema
    states for them (``null``, ``false``, ``""``): a client reads an absent one as that.

    A client checks each field present against the schema: for a plain answer the Python
    SDK spent ~0.3 ms a call checking fields that said nothing.
    """
    return {name: value for name, value in data.items() if not _at_default(name, value)}


def _at_default(name: str, value: Any) -> bool:
    default = _CALL_DEFAULTS.get(name, _NO_DEFAULT)
    return type(value) is type(default) and value == default  # 0 is not False here


_NO_DEFAULT = object()


class StatusResult(BaseModel):
    """Every model's readiness."""

    model_config = _LEAN

    server_version: str
    models: list[ModelStatusOut]  # type: ignore[valid-type]  # built by _output_model
    available: list[str]
    unavailable: list[str]
    store_degraded: bool = False  # the store's server cannot be reached now (Redis down)
    store_error: str | None = None  # why, while it is degraded


class CompareOut(BaseModel):
    """One prompt asked of several models at once."""

    model_config = _LEAN

    results: list[ExecuteResult]  # type: ignore[valid-type]  # built by _output_model
    synthesis: ExecuteResult | None  # type: ignore[valid-type]
    synthesized_from: list[str]
    answered: list[str]
    failed: list[str]
    duration_s: float


class StartResult(BaseModel):
    """A job just started: poll it with get_llm_result."""

    model_config = _LEAN

    call_id: str
    state: str


class CallPieceResult(BaseModel):
    """A call's state and a piece of its output; its whole result once it is done."""

    model_config = _LEAN

    call_id: str
    model: str
    state: str
    done: bool
    offset: int
    output: str
    next_offset: int
    output_chars: int
    remaining_chars: int
    attempts: int
    result: dict[str, Any] | None = None


class CancelResult(BaseModel):
    """What cancel_llm did: `cancelled` is False for a call that had already ended."""

    model_config = _LEAN

    call_id: str
    state: str
    cancelled: bool


class CallSummaryOut(BaseModel):
    """One call as list_llm_calls shows it."""

    model_config = _LEAN

    call_id: str
    model: str
    state: str
    origin: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    attempts: int
    exit_code: int | None
    error_kind: str | None
    output_chars: int
    session: str | None
    cwd: str | None
    prompt_preview: str | None


class CallListResult(BaseModel):
    """Recent calls, newest first."""

    model_config = _LEAN

    calls: list[CallSummaryOut]


class TokenEstimateOut(BaseModel):
    model_config = _LEAN

    model: str
    tokens: int
    characters: int
    family: str
    method: str


class SessionOut(BaseModel):
    """One session, without its transcript."""

    model_config = _LEAN

    name: str
    model: str
    turns: int
    cli_model: str | None
    cli_session_id: str | None
    cli_host: str | None
    created_at: float
    updated_at: float


class SessionsResult(BaseModel):
    """The sessions, most recently used first."""

    model_config = _LEAN

    sessions: list[SessionOut]


class ConfigureResult(BaseModel):
    model_config = _LEAN

    model: str
    created: bool
    command: list[str]
    timeout_category: str
    rate_limit_patterns: list[str]
    available: bool
    executable_path: str | None
    warnings: list[str]


def ok_result(data: dict[str, Any], *, text: str | None = None) -> CallToolResult:
    """A successful result: `data` as structured content, `text` (default: `data` as
    indented JSON) as text."""
    if text is None:
        text = to_json(data, indent=2).decode()  # as pydantic writes JSON; faster than json
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def call_result(result: CallResult, *, text: str, cap: ResultCap) -> CallToolResult:
    """A finished call as the call tools answer it (`ExecuteResult`), with `text` as text.

    A `text` over `cap` is replaced by the first piece of the output and a marker saying how
    much more there is and how to read it; the structured ``output`` is that piece,
    ``result_truncated`` is true, and in JSON mode ``parsed_json`` is left out (the JSON value
    is in the output, read whole from the store).
    """
    data = result.to_dict()
    size = fit(text, cap)
    if size == len(text):
        return ok_result(lean_call(data), text=text)
    # The text is usually the output itself: its cut is the one just found, not estimated again.
    piece, marker = _first_piece(result, cap, size if text == result.output else None)
    if result.parsed_json is not None:
        marker += (
            f" (JSON mode: the JSON value is {len(text):,} characters, over this server's "
            "result cap, so parsed_json is left out; it is in the output.)"
        )
    data.update(output=piece, result_truncated=True, parsed_json=None)
    return ok_result(lean_call(data), text=piece + marker)


def _first_piece(result: CallResult, cap: ResultCap, size: int | None = None) -> tuple[str, str]:
    """The first piece of `result`'s output within `cap` (`size` characters when the caller
    already knows), and the marker that follows it ('' when the output is whole)."""
    output = result.output
    if size is None:
        size = fit(output, cap)
    if size == len(output):
        return output, ""
    piece = Piece(text=output[:size], offset=0, total=len(output))
    return piece.text, truncation_marker(result.call_id, piece)


def status_result(
    statuses: Iterable[ModelStatus], *, store_health: StoreHealth | None = None
) -> CallToolResult:
    """Every model's readiness as get_llm_status answers it (`StatusResult`), and whether the
    store is degraded (its server unreachable: calls run, their records wait to be written)."""
    models = [status.to_dict() for status in statuses]
    degraded = store_health is not None and store_health.degraded
    return ok_result(
        {
            "server_version": __version__,
            "models": models,
            "available": [m["model"] for m in models if m["available"]],
            "unavailable": [m["model"] for m in models if not m["available"]],
            "store_degraded": degraded,
            "store_error": store_health.last_error if store_health and degraded else None,
        }
    )


def sessions_result(sessions: Iterable[SessionRecord]) -> CallToolResult:
    """The sessions as list_llm_sessions answers them (`SessionsResult`)."""
    return ok_result({"sessions": [session_summary(s) for s in sessions]})


def error_result(
    exc: LLMError, *, model: str | None, cap: ResultCap | None = None
) -> CallToolResult:
    """An isError result whose text names the kind.

    Clients validate structured content against the tool's output schema even on errors (the
    TypeScript SDK does), so it is attached only for the call tools (`model` is the model the
    call named), as an `ExecuteResult`: the partial result of the call, or an empty one when
    no process ran. Output shown (partial or raw) is cut to `cap` as `call_result` cuts it.
    """
    text = f"{exc.kind}: {exc.message}"
    partial = exc.result
    raw = getattr(exc, "raw_output", None)
    if partial is not None:  # what it output, cut as a result is: it is in the store whole
        piece, marker = _first_piece(partial, cap or ResultCap())
        raw = raw and piece
    else:
        piece, marker = "", ""
    if isinstance(exc, CallTimeoutError) and piece:
        text += f"\n--- partial output ---\n{piece}{marker}"
    elif raw:
        text += f"; the raw output follows and is the result's output\n--- raw output ---\n{raw}"
        text += marker
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
        structured = lean_call(
            {**partial.to_dict(), "output": piece, "result_truncated": bool(marker)}
        )
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=structured,
        is_error=True,
    )
