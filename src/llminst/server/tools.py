"""The tools that run and describe calls: execute_llm, stream_llm, get_llm_status, estimate_tokens.

Each is a module-level typed function: its signature (with the descriptions in `Field`s) is the
tool's input schema and its docstring the description clients show. A tool never starts a
process itself: it asks the server's supervisor, forwards text as progress (`progress`), and
shapes the outcome (`results`). Cancellation (a client's ``notifications/cancelled`` or a
disconnect) arrives as trio.Cancelled inside the tool and is left to propagate: the supervisor
kills the call's process tree on the way out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from .._core.result import CallResult
from .._core.tokens import estimate_tokens as _estimate_tokens
from .owners import owner_of
from .progress import forward_progress
from .registry import register
from .results import (
    ExecuteResult,
    StatusResult,
    TokenEstimateOut,
    call_result,
    ok_result,
    status_result,
)
from .state import state_of

__all__ = ["call_tools", "estimate_tokens", "execute_llm", "get_llm_status", "stream_llm"]

# Tool parameters shared by several tools (their descriptions are part of the input schemas).
Prompt = Annotated[str, Field(description="The prompt, passed to the CLI byte for byte.")]
Timeout = Annotated[
    float | None,
    Field(description="Seconds for the whole call; omit to pick a category from the prompt."),
]


async def execute_llm(
    ctx: Context,
    prompt: Prompt,
    model: Annotated[
        str, Field(description="Model name, e.g. claude, gemini, gpt-4, echo, claude:sonnet.")
    ] = "claude",
    timeout: Timeout = None,  # noqa: ASYNC109 (public contract: the call's budget)
    json_mode: Annotated[
        bool, Field(description="Ask for JSON; the validated value is returned as parsed_json.")
    ] = False,
    stream: Annotated[
        bool, Field(description="Stream the text as progress notifications while it runs.")
    ] = True,
    json_schema: Annotated[
        str | dict[str, Any] | None,
        Field(
            description="JSON Schema (JSON text or object) for json_mode; default {question, answer}."
        ),
    ] = None,
) -> Annotated[CallToolResult, ExecuteResult]:
    """Run a prompt through an LLM CLI and return the complete result.

    With stream=True and a progress token, the text also arrives as progress notifications
    (the chunk in `message`). Failures are tool errors whose text starts with their kind:
    unknown_model, cli_not_found, credentials_missing, rate_limited, timeout (with the
    partial output), process_failed (with the stderr tail), invalid_json_schema,
    json_not_found / json_schema_mismatch (with the raw output). Output over the server's
    result cap (about 80,000 characters) ends in a marker saying how to read the rest:
    get_llm_result(call_id, offset) or the resource llminst://calls/{call_id}/output.
    """
    result = await _run(
        ctx,
        model=model,
        prompt=prompt,
        timeout=timeout,
        json_mode=json_mode,
        json_schema=json_schema,
        with_progress=stream,
    )
    return call_result(result, text=_answer_text(result), cap=state_of(ctx).result_cap)


async def stream_llm(
    ctx: Context,
    model: Annotated[
        str, Field(description="Model name, e.g. claude, echo, gemini:gemini-2.5-flash.")
    ],
    prompt: Prompt,
    timeout: Timeout = None,  # noqa: ASYNC109 (public contract: the call's budget)
) -> Annotated[CallToolResult, ExecuteResult]:
    """Stream a prompt's answer as progress notifications, then return the full text.

    Each notification's `message` is the next piece of text (coalesced to about every
    50 ms); notifications with no message are keepalives sent while the CLI is silent (at
    least every 10 s), so clients that reset their timeout on progress keep waiting. Output
    over the server's result cap ends in a marker saying how to read the rest.
    """
    result = await _run(ctx, model=model, prompt=prompt, timeout=timeout, with_progress=True)
    return call_result(result, text=result.output, cap=state_of(ctx).result_cap)


async def get_llm_status(
    ctx: Context,
    probe: Annotated[
        bool,
        Field(description="Also run a tiny prompt on each available model (spends tokens)."),
    ] = False,
) -> Annotated[CallToolResult, StatusResult]:
    """Which models are installed, their versions, credential variables set (names only),
    timeout categories and concurrency limits, with a hint for fixing what is missing."""
    return status_result(await state_of(ctx).supervisor.status(probe=probe))


async def estimate_tokens(
    ctx: Context,
    text: Annotated[str, Field(description="The text to estimate.")],
    model: Annotated[str, Field(description="Model whose tokenizer to estimate for.")] = "claude",
) -> Annotated[CallToolResult, TokenEstimateOut]:
    """Estimate how many tokens `text` costs for `model` (a heuristic; see `method`)."""
    estimate = _estimate_tokens(text, model)
    return ok_result(
        {
            "model": model,
            "tokens": estimate.tokens,
            "characters": len(text),
            "family": estimate.family,
            "method": estimate.method,
        }
    )


def call_tools() -> list[Tool]:
    """The four tools, registered in the order clients list them."""
    running = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    return [
        register(execute_llm, running, reports_calls=True),
        register(stream_llm, running, reports_calls=True),
        register(get_llm_status, read_only),
        register(estimate_tokens, read_only),
    ]


async def _run(
    ctx: Context,
    *,
    model: str,
    prompt: str,
    timeout: float | None,  # noqa: ASYNC109 (the tools' parameter, passed through)
    json_mode: bool = False,
    json_schema: str | Mapping[str, Any] | None = None,
    with_progress: bool,
) -> CallResult:
    """Run one call on the server's supervisor, forwarding its text as progress if asked."""
    state = state_of(ctx)
    options = state.options
    owner = owner_of(ctx)
    if not with_progress:
        # Nothing to forward: the call runs in this task, with no channel or task of its own.
        return await state.supervisor.run(
            model,
            prompt,
            timeout=timeout,
            json_mode=json_mode,
            json_schema=json_schema,
            cli_streaming=False,
            owner=owner,
        )
    async with state.supervisor.open_stream(
        model,
        prompt,
        timeout=timeout,
        json_mode=json_mode,
        json_schema=json_schema,
        cli_streaming=True,
        owner=owner,
    ) as stream:
        await forward_progress(
            stream.events(),
            ctx.report_progress,
            coalesce_s=options.coalesce_s,
            coalesce_bytes=options.coalesce_bytes,
            keepalive_s=options.keepalive_s,
        )
        return await stream.wait()


def _answer_text(result: CallResult) -> str:
    """execute_llm's text: the validated JSON value in JSON mode, else the output."""
    if result.parsed_json is not None:
        return json.dumps(result.parsed_json, ensure_ascii=False, indent=2)
    return result.output
