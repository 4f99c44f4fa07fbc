"""The job tools, for clients that drop a tool call after ~60 s: start_llm, get_llm_result,
cancel_llm, list_llm_calls, and the resource ``llminst://calls/{call_id}/output``.

A job runs in the server's supervisor (`Supervisor.start`), not in the request that started it,
so it survives the client disconnecting; its record and output are read back from the call
store, in pieces no larger than the server's result cap (`_core.paging`). A client sees only
the calls of its owner (`owners`: its HTTP token; everyone over stdio), and an id it may not see
is `unknown_call`, as an id that never existed. These functions never start a process
themselves: the supervisor does.
"""

from __future__ import annotations

from typing import Annotated, Any

import trio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from .._core.errors import InvalidInputError, UnknownCallError
from .._core.paging import MAX_WAIT_S, Piece, ResultCap, check_offset, fit, truncation_marker
from .._core.records import CallRecord, CallState
from .owners import check_visible, owner_of
from .registry import register
from .results import (
    CallListResult,
    CallPieceResult,
    CancelResult,
    StartResult,
    lean_call,
    ok_result,
)
from .state import ServerState, state_of
from .tools import Cwd, Fallbacks, Prompt, Session, SystemPrompt, Timeout

__all__ = [
    "OUTPUT_RESOURCE",
    "cancel_llm",
    "get_llm_result",
    "job_tools",
    "list_llm_calls",
    "read_call_output",
    "start_llm",
]

OUTPUT_RESOURCE = "llminst://calls/{call_id}/output"
_LIST_LIMIT_MAX = 200
_PREVIEW_CHARS = 100

CallId = Annotated[str, Field(description="The call_id start_llm (or any call's result) gave.")]


async def start_llm(
    ctx: Context,
    prompt: Prompt,
    model: Annotated[
        str, Field(description="Model name, e.g. claude, gemini, gpt-4, echo, claude:sonnet.")
    ] = "claude",
    timeout: Timeout = None,  # noqa: ASYNC109 (public contract: the call's budget)
    json_mode: Annotated[
        bool, Field(description="Ask for JSON; the validated value is returned as parsed_json.")
    ] = False,
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
) -> Annotated[CallToolResult, StartResult]:
    """Start a prompt in the background and return its call_id at once.

    For clients that drop a tool call after about 60 s (Claude Desktop, claude.ai): the call
    runs on the server, survives this client disconnecting, and is bounded by its timeout.
    Poll get_llm_result(call_id, wait_s=50) until done; cancel_llm(call_id) ends it. A job
    of a session starts once the session's previous call has ended.
    """
    state = state_of(ctx)
    call_id = await state.supervisor.start(
        model,
        prompt,
        timeout=timeout,
        json_mode=json_mode,
        json_schema=json_schema,
        system_prompt=system_prompt,
        cwd=cwd,
        fallbacks=fallbacks,
        session=session,
        owner=owner_of(ctx),
    )
    return ok_result({"call_id": call_id, "state": CallState.QUEUED.value})


async def get_llm_result(
    ctx: Context,
    call_id: CallId,
    wait_s: Annotated[
        float,
        Field(
            description="Wait up to this many seconds (at most 50; more waits 50) for the call "
            "to end or for output beyond offset; 0 answers at once."
        ),
    ] = 0,
    offset: Annotated[
        int, Field(description="Character offset to read the output from (next_offset).")
    ] = 0,
    max_chars: Annotated[
        int | None,
        Field(description="Characters of output at most (default and most: the server's cap)."),
    ] = None,
) -> Annotated[CallToolResult, CallPieceResult]:
    """A call's state and its output from offset, and its whole result once done.

    Long-polls: with wait_s, it answers as soon as the call ends or has output beyond
    offset. Read on with offset=next_offset; the pieces concatenate to exactly the output.
    An unknown call_id (or another client's) is unknown_call.
    """
    if wait_s < 0 or wait_s != wait_s:
        raise InvalidInputError(f"wait_s must be 0 or more seconds (at most 50), got {wait_s}")
    if max_chars is not None and max_chars < 1:
        raise InvalidInputError(f"max_chars must be 1 or more, got {max_chars}")
    state = state_of(ctx)
    owner = owner_of(ctx)
    record = await _visible(state, call_id, owner)
    if wait_s > 0 and not record.state.done:
        with trio.move_on_after(min(wait_s, MAX_WAIT_S)):
            await state.supervisor.jobs.wait_for_news(call_id, offset)
        record = await _visible(state, call_id, owner)
    check_offset(offset, record.output_chars, done=record.state.done)
    cap = state.result_cap
    if max_chars is not None:
        cap = ResultCap(max_chars=min(max_chars, cap.max_chars), max_tokens=cap.max_tokens)
    text = await state.supervisor.store.read_output(call_id, offset, cap.max_chars)
    total = max(record.output_chars, offset + len(text))  # more may have been written since
    piece = Piece(text=text[: fit(text, cap)], offset=offset, total=total)
    return ok_result(_piece_data(record, piece), text=_piece_text(record, piece))


async def cancel_llm(ctx: Context, call_id: CallId) -> Annotated[CallToolResult, CancelResult]:
    """Cancel a running call: its process tree is killed at once and its output so far kept
    (state cancelled), also when another server sharing the store runs it. A call that
    already ended is left as it is (cancelled: false)."""
    state = state_of(ctx)
    record = await _visible(state, call_id, owner_of(ctx))
    cancelled = await state.supervisor.cancel(call_id)
    if cancelled:
        record = await _visible(state, call_id, owner_of(ctx))
    return ok_result({"call_id": call_id, "state": record.state.value, "cancelled": cancelled})


async def list_llm_calls(
    ctx: Context,
    state: Annotated[
        str | None,
        Field(
            description="Only calls in this state: queued, running, succeeded, failed, "
            "cancelled or interrupted."
        ),
    ] = None,
    model: Annotated[str | None, Field(description="Only calls of this model.")] = None,
    limit: Annotated[int, Field(description="How many calls at most (1-200).")] = 20,
) -> Annotated[CallToolResult, CallListResult]:
    """Recent calls you can see (any origin: start_llm, execute_llm, ...), newest first."""
    states = None if state is None else [_state_named(state)]
    if not 1 <= limit <= _LIST_LIMIT_MAX:
        raise InvalidInputError(f"limit must be from 1 to {_LIST_LIMIT_MAX}, got {limit}")
    server = state_of(ctx)
    await server.supervisor.flushed()
    records = await server.supervisor.store.list_calls(
        states=states, model=model, owner=owner_of(ctx), limit=limit
    )
    return ok_result({"calls": [_summary(record) for record in records]})


async def read_call_output(ctx: Context, call_id: str) -> str:
    """The whole output of a call (so far), as text."""
    state = state_of(ctx)
    try:
        await _visible(state, call_id, owner_of(ctx))
    except UnknownCallError as exc:
        raise ResourceNotFoundError(f"{exc.kind}: {exc.message}") from None
    return await state.supervisor.store.read_output(call_id)


def job_tools() -> list[Tool]:
    """The four job tools, in the order clients list them."""
    running = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    ending = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)
    return [
        register(start_llm, running),
        register(get_llm_result, read_only),
        register(cancel_llm, ending),
        register(list_llm_calls, read_only),
    ]


async def _visible(state: ServerState, call_id: str, owner: str | None) -> CallRecord:
    """The call's record as of now (everything queued for the store written first)."""
    await state.supervisor.flushed()
    return check_visible(await state.supervisor.store.get_call(call_id), call_id, owner)


def _state_named(name: str) -> CallState:
    try:
        return CallState(name)
    except ValueError:
        valid = ", ".join(s.value for s in CallState)
        raise InvalidInputError(f"state: unknown state {name!r}; valid states: {valid}") from None


def _piece_data(record: CallRecord, piece: Piece) -> dict[str, Any]:
    return {
        "call_id": record.call_id,
        "model": record.model,
        "state": record.state.value,
        "done": record.state.done,
        "offset": piece.offset,
        "output": piece.text,
        "next_offset": piece.next_offset,
        "output_chars": piece.total,
        "remaining_chars": piece.remaining,
        "attempts": record.attempts,
        "result": (
            lean_call(record.result) if record.state.done and record.result is not None else None
        ),
    }


def _piece_text(record: CallRecord, piece: Piece) -> str:
    """What a client reads: one line of state, the piece, and how to read on."""
    so_far = "" if record.state.done else " so far"
    head = (
        f"[llminst: call {record.call_id} ({record.model}) is {record.state.value}; "
        f"characters {piece.offset:,}-{piece.next_offset:,} of {piece.total:,}{so_far}]"
    )
    if record.error_kind:
        head += f"\n[{record.error_kind}: {record.error}]"
    if piece.remaining:
        tail = truncation_marker(record.call_id, piece)
    elif not record.state.done:
        tail = (
            f'\n\n[llminst: still running; get_llm_result(call_id="{record.call_id}", '
            f"offset={piece.next_offset}, wait_s=50) waits for more]"
        )
    else:
        tail = ""
    return f"{head}\n{piece.text}{tail}"


def _summary(record: CallRecord) -> dict[str, Any]:
    prompt = record.prompt
    return {
        "call_id": record.call_id,
        "model": record.model,
        "state": record.state.value,
        "origin": record.origin.value,
        "created_at": record.created_at,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "attempts": record.attempts,
        "exit_code": record.exit_code,
        "error_kind": record.error_kind,
        "output_chars": record.output_chars,
        "session": record.session,
        "cwd": record.cwd,
        "prompt_preview": None if prompt is None else prompt[:_PREVIEW_CHARS],
    }
