"""The tools that run and describe calls: execute_llm, stream_llm, get_llm_status, estimate_tokens,
list_llm_sessions.

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
from .progress import forward_progress, progress_requested
from .registry import register
from .results import (
    ExecuteResult,
    SessionsResult,
    StatusResult,
    TokenEstimateOut,
    call_result,
    ok_result,
    sessions_result,
    status_result,
)
from .state import state_of

__all__ = [
    "call_tools",
    "estimate_tokens",
    "execute_llm",
    "get_llm_status",
    "list_llm_sessions",
    "stream_llm",
]

# Tool parameters shared by several tools (their descriptions are part of the input schemas).
Prompt = Annotated[str, Field(description="The prompt, passed to the CLI byte for byte.")]
Timeout = Annotated[
    float | None,
    Field(description="Seconds for the whole call; omit to pick a category from the prompt."),
]
SystemPrompt = Annotated[
    str | None,
    Field(
        description=(
            "Instructions for the model: passed by the CLI's own flag where it has one "
            "(claude --append-system-prompt, llm --system, openai -g system), else prepended "
            "to the prompt between <system> tags."
        )
    ),
]
Cwd = Annotated[
    str | None,
    Field(
        description=(
            "The directory the CLI runs in (the files an agentic CLI works on). It must exist; "
            "over HTTP it must lie under the server's allowed_roots."
        )
    ),
]
Fallbacks = Annotated[
    list[str] | None,
    Field(
        description=(
            "Models to try in order if this one is rate limited (or cooling down), lacks "
            "credentials, is not installed or cannot reach its API; within the same timeout. "
            "Omit for the model's configured fallbacks; [] for none."
        )
    ),
]
Session = Annotated[
    str | None,
    Field(
        description=(
            "A session name you pick (1-200 of A-Z a-z 0-9 . _ : -): the first call opens it, "
            "later calls with the same name continue the conversation, on any model."
        )
    ),
]

Cache = Annotated[
    bool | None,
    Field(
        description=(
            "true: answer from the response cache if the same call (model, command, cwd, "
            "prompt, system prompt, JSON schema) succeeded before, without running the CLI "
            "(cached: true, cached_call_id), else run it and keep the answer; false: never; "
            "omit: as the model's cache_ttl_s says. Never with a session."
        )
    ),
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
    system_prompt: SystemPrompt = None,
    cwd: Cwd = None,
    fallbacks: Fallbacks = None,
    session: Session = None,
    cache: Cache = None,
) -> Annotated[CallToolResult, ExecuteResult]:
    """Run a prompt through an LLM CLI and return the complete result.

    With stream=True and a progress token, the text also arrives as progress notifications
    (the chunk in `message`). Failures are tool errors whose text starts with their kind:
    unknown_model, cli_not_found, credentials_missing, rate_limited, timeout (with the
    partial output, or saying it waited for memory), process_failed (with the stderr tail),
    memory_exceeded (with its peak), invalid_json_schema, json_not_found /
    json_schema_mismatch (with the raw output). The result's `model` names
    the model that answered; `fallback_chain` lists those passed over, and why. Output over the
    server's result cap (about 80,000 characters) ends in a marker saying how to read the rest:
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
        system_prompt=system_prompt,
        cwd=cwd,
        fallbacks=fallbacks,
        session=session,
        cache=cache,
    )
    return call_result(result, text=_answer_text(result), cap=state_of(ctx).result_cap)


async def stream_llm(
    ctx: Context,
    model: Annotated[
        str, Field(description="Model name, e.g. claude, echo, gemini:gemini-2.5-flash.")
    ],
    prompt: Prompt,
    timeout: Timeout = None,  # noqa: ASYNC109 (public contract: the call's budget)
    system_prompt: SystemPrompt = None,
    cwd: Cwd = None,
    fallbacks: Fallbacks = None,
    session: Session = None,
    cache: Cache = None,
) -> Annotated[CallToolResult, ExecuteResult]:
    """Stream a prompt's answer as progress notifications, then return the full text.

    Each notification's `message` is the next piece of text (coalesced to about every
    50 ms); notifications with no message are keepalives sent while the CLI is silent (at
    least every 10 s), so clients that reset their timeout on progress keep waiting. Output
    over the server's result cap ends in a marker saying how to read the rest.
    """
    result = await _run(
        ctx,
        model=model,
        prompt=prompt,
        timeout=timeout,
        with_progress=True,
        system_prompt=system_prompt,
        cwd=cwd,
        fallbacks=fallbacks,
        session=session,
        cache=cache,
    )
    return call_result(result, text=result.output, cap=state_of(ctx).result_cap)


async def get_llm_status(
    ctx: Context,
    probe: Annotated[
        bool,
        Field(description="Also run a tiny prompt on each available model (spends tokens)."),
    ] = False,
) -> Annotated[CallToolResult, StatusResult]:
    """Which models are installed, their versions, credential variables set (names only),
    timeout categories and concurrency limits, with a hint for fixing what is missing, and
    which are cooling down after a rate limit (cooldown_until, epoch seconds) and why;
    store_degraded while the call store's server (Redis) cannot be reached."""
    supervisor = state_of(ctx).supervisor
    statuses = await supervisor.status(probe=probe)
    return status_result(statuses, store_health=supervisor.store_health)


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


async def list_llm_sessions(
    ctx: Context,
    limit: Annotated[
        int, Field(description="At most this many sessions, most recently used first.", ge=1)
    ] = 50,
) -> Annotated[CallToolResult, SessionsResult]:
    """The sessions calls can continue (pass `name` as `session` to execute_llm or
    stream_llm): model of the latest turn, number of turns, the CLI's own session id when it
    resumes one, times (Unix seconds)."""
    return sessions_result(await state_of(ctx).supervisor.store.list_sessions(limit=limit))


def call_tools() -> list[Tool]:
    """The five tools, registered in the order clients list them."""
    running = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    return [
        register(execute_llm, running, reports_calls=True),
        register(stream_llm, running, reports_calls=True),
        register(get_llm_status, read_only),
        register(estimate_tokens, read_only),
        register(list_llm_sessions, read_only),
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
    system_prompt: str | None = None,
    cwd: str | None = None,
    fallbacks: list[str] | None = None,
    session: str | None = None,
    cache: bool | None = None,
) -> CallResult:
    """Run one call on the server's supervisor, forwarding its text as progress if asked
    (`with_progress`) and the client listens."""
    state = state_of(ctx)
    options = state.options
    owner = owner_of(ctx)
    if not (with_progress and progress_requested(ctx)):
        # Nothing to forward: the call runs in this task, with no channel or task of its own.
        # The CLI is started as it would be for a stream (same flags), only nobody is told.
        return await state.supervisor.run(
            model,
            prompt,
            timeout=timeout,
            json_mode=json_mode,
            json_schema=json_schema,
            cli_streaming=with_progress,
            system_prompt=system_prompt,
            cwd=cwd,
            fallbacks=fallbacks,
            session=session,
            cache=cache,
            owner=owner,
        )
    async with state.supervisor.open_stream(
        model,
        prompt,
        timeout=timeout,
        json_mode=json_mode,
        json_schema=json_schema,
        cli_streaming=True,
        system_prompt=system_prompt,
        cwd=cwd,
        fallbacks=fallbacks,
        session=session,
        cache=cache,
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
