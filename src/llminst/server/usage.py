"""The ledger and cache tools: get_llm_usage (what the calls cost, per model, day or session).

A tool here only asks the server's supervisor (its store's ledger) and shapes the answer; it
never starts a process, and never shows a prompt or a secret.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, Field

from .._core.ledger import parse_since, total_row
from .registry import register
from .results import ok_result
from .state import state_of

__all__ = ["UsageResult", "get_llm_usage", "usage_tools"]


class UsageRowOut(BaseModel):
    """The sums over one group of calls."""

    group: str
    calls: int
    failures: int
    cached: int
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None
    cost_usd: float | None
    cost_unknown: int
    time_s: float


class UsageResult(BaseModel):
    """The usage ledger: one row per group, and the total."""

    group_by: str
    since: float | None
    rows: list[UsageRowOut]
    total: UsageRowOut


async def get_llm_usage(
    ctx: Context,
    since: Annotated[
        str | None,
        Field(
            description=(
                "Only calls from this far back (30m, 12h, 7d, 2w) or since an ISO date "
                "(2026-11-01); omit for every call the store keeps."
            )
        ),
    ] = None,
    group_by: Annotated[
        Literal["model", "day", "session"],
        Field(description="One row per model (the one that answered), UTC day, or session."),
    ] = "model",
) -> Annotated[CallToolResult, UsageResult]:
    """What the calls used: per model, day or session, the calls, failures, cache hits,
    tokens (input, output, cache read/write, reasoning, where the CLIs report them), cost in
    USD (the CLI's own, else from the model's prices per million tokens; cost_unknown counts
    calls with neither) and time spent."""
    supervisor = state_of(ctx).supervisor
    start = parse_since(since, now=time.time())
    rows = await supervisor.usage(since=start, group_by=group_by)
    return ok_result(
        {
            "group_by": group_by,
            "since": start,
            "rows": [row.to_dict() for row in rows],
            "total": total_row(rows).to_dict(),
        }
    )


def usage_tools() -> list[Tool]:
    """get_llm_usage, registered."""
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    return [register(get_llm_usage, read_only)]
