"""Registering a typed tool function as an MCP tool that never fails opaquely.

`register` turns a module-level tool function into the SDK's `Tool`: the client's arguments are
checked strictly (`arguments`), the docstring becomes the description, and every failure
becomes an isError result whose text starts with its kind (`results`). Cancellation is left to
propagate. This module knows nothing of what the tools do and never starts a process.
"""

from __future__ import annotations

import inspect
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, ToolAnnotations

from .._core.errors import LLMError
from .._core.paging import ResultCap
from ..logs import get_logger
from .arguments import ArgumentsModel, ToolBody, check_arguments, strict_tool
from .results import error_result

__all__ = ["register"]

_log = get_logger()


def register(fn: ToolBody, annotations: ToolAnnotations, *, reports_calls: bool = False) -> Tool:
    """The SDK tool for `fn`, whose signature is the input schema and docstring the description.

    Args:
        fn: ``async def tool(ctx, **arguments) -> Annotated[CallToolResult, OutputModel]``.
        annotations: the tool's MCP annotations.
        reports_calls: the tool runs a call and its output schema is the call's result, so its
            errors carry the (partial) result of the model the arguments name.
    """
    # The SDK uses docstrings verbatim; clients show them, so drop the source indentation.
    description = inspect.cleandoc(fn.__doc__ or "")

    def wrap(body: ToolBody, strict: ArgumentsModel) -> ToolBody:
        return _checked(body, strict, reports_calls=reports_calls)

    return strict_tool(fn, wrap, description=description, annotations=annotations)


def _result_cap(ctx: Context) -> ResultCap | None:
    """The server's result cap (None: a context without the server's state)."""
    state = ctx.request_context.lifespan_context
    return getattr(state, "result_cap", None)


def _checked(tool: ToolBody, strict: ArgumentsModel, *, reports_calls: bool) -> ToolBody:
    """The function the SDK calls for `tool`: check the client's arguments against `strict`,
    run the tool, and turn every failure into a readable isError result; let cancellation
    through."""
    name = tool.__name__
    model_parameter = inspect.signature(tool).parameters.get("model")
    default_model = model_parameter.default if model_parameter else None

    async def checked(*, ctx: Context, arguments: dict[str, Any]) -> CallToolResult:
        model = None
        if reports_calls:
            # The model named in the structured result, even when the arguments are wrong.
            sent = arguments.get("model", default_model)
            model = sent if isinstance(sent, str) else ""
        try:
            result: CallToolResult = await tool(ctx, **check_arguments(strict, arguments))
            return result
        except LLMError as exc:
            _log.info("llminst.tool.failed", tool=name, error=exc.kind)
            return error_result(exc, model=model, cap=_result_cap(ctx))
        except Exception as exc:
            _log.exception("llminst.tool.crashed", tool=name)
            error = LLMError(
                f"internal error in llminst ({type(exc).__name__}: {exc}); please report it"
            )
            return error_result(error, model=model)

    return checked
