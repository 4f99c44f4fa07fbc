"""The compare_llms tool: one prompt to several models at once, their answers side by side.

The tool asks the server's supervisor (`Supervisor.compare`) and shapes its `CompareResult`;
it never starts a process. While the calls run, each model's text goes out as progress
notifications whose `message` starts with the model's name in brackets (``[gemini] ``), or
``[synthesis] `` for the combined answer: MCP progress carries only a number, a total and a
message string, so the label travels in the message. The notifications of all models share one
increasing `progress` count. Cancelling the request cancels every call; each process tree is
killed and reaped on the way out.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any

import trio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from .._core.fanout import MAX_COMPARE_MODELS, NO_ANSWERS_KIND, CompareResult, answer_text
from .._core.result import CallResult
from ..supervisor import CallStream
from ..supervisor.fanout import Forward
from .progress import forward_progress
from .registry import register
from .results import CompareOut, lean_call
from .state import state_of
from .tools import Prompt

__all__ = ["compare_llms", "compare_text", "compare_tool"]


Timeout = Annotated[
    float | None,
    Field(
        description="Seconds for each model's call (they run at once); the synthesis gets as "
        "long again. Omit to pick a category from the prompt."
    ),
]
Models = Annotated[
    list[str],
    Field(
        description=f"1 to {MAX_COMPARE_MODELS} distinct model names, e.g. "
        '["claude", "gemini", "codex"]; all run at once.',
        json_schema_extra={"minItems": 1, "maxItems": MAX_COMPARE_MODELS, "uniqueItems": True},
    ),
]


async def compare_llms(
    ctx: Context,
    prompt: Prompt,
    models: Models,
    timeout: Timeout = None,  # noqa: ASYNC109 (public contract: each call's budget)
    json_mode: Annotated[
        bool, Field(description="Ask every model for JSON; each result has parsed_json.")
    ] = False,
    json_schema: Annotated[
        str | dict[str, Any] | None,
        Field(description="JSON Schema (JSON text or object) for json_mode."),
    ] = None,
    synthesize_with: Annotated[
        str | None,
        Field(
            description="A model that gets the answers, anonymised as Answer 1, 2, ..., and "
            "writes one combined answer (the result's synthesis)."
        ),
    ] = None,
) -> Annotated[CallToolResult, CompareOut]:
    """Ask several LLM CLIs the same prompt at once and return every answer side by side.

    Each model runs in its own call: one failing or timing out does not stop the others, and
    its entry in `results` carries the error (error_kind, error) instead of an answer. Every
    entry has its duration, usage and cost. With a progress token, each model's text arrives
    as progress notifications whose message starts with "[MODEL] " ("[synthesis] " for the
    combined answer). The result is an error only when no model answered (its text then starts
    with no_answers:). Unknown models and bad arguments are refused before anything starts.
    """
    forward = _progress_forwarder(ctx)
    compared = await state_of(ctx).supervisor.compare(
        prompt,
        models,
        timeout=timeout,
        json_mode=json_mode,
        json_schema=json_schema,
        synthesize_with=synthesize_with,
        forward=forward,
    )
    text = compare_text(compared)
    if not compared.answered:
        count = len(compared.results)
        text = f"{NO_ANSWERS_KIND}: none of the {count} model(s) answered; each one's error follows\n\n{text}"
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=compare_fields(compared),
        is_error=not compared.answered,
    )


def compare_tool() -> Tool:
    running = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)
    return register(compare_llms, running)


def _progress_forwarder(ctx: Context) -> Forward:
    """A `fanout.Forward` sending each call's text as progress labelled with its model."""
    options = state_of(ctx).options
    numbers = itertools.count(1)
    sending = trio.Lock()  # one number at a time, so `progress` increases on the wire

    async def forward(label: str, stream: CallStream) -> None:
        async def report(_progress: float, total: float | None, message: str | None) -> None:
            labelled = None if message is None else f"[{label}] {message}"
            async with sending:
                await ctx.report_progress(next(numbers), total, labelled)

        await forward_progress(
            stream.events(),
            report,
            coalesce_s=options.coalesce_s,
            coalesce_bytes=options.coalesce_bytes,
            keepalive_s=options.keepalive_s,
        )

    return forward


def compare_fields(compared: CompareResult) -> dict[str, Any]:
    """`compared` as structured content, each call's result lean (`lean_call`)."""
    data = compared.to_dict()
    data["results"] = [lean_call(result) for result in data["results"]]
    if data["synthesis"] is not None:
        data["synthesis"] = lean_call(data["synthesis"])
    return data


def compare_text(compared: CompareResult) -> str:
    """The result as text: each model's answer (or error) under a header, then the synthesis."""
    sections = [_section(f"[{r.model}]", r) for r in compared.results]
    if compared.synthesis is not None:
        sections.append(_section(f"[synthesis by {compared.synthesis.model}]", compared.synthesis))
    return "\n\n".join(sections)


def _section(header: str, result: CallResult) -> str:
    if result.success:
        return f"{header} ({result.duration_s:.2f} s)\n{_shown(result)}"
    return f"{header} failed ({result.duration_s:.2f} s): {result.error_kind}: {result.error}"


def _shown(result: CallResult) -> str:
    return answer_text(result).rstrip("\n")
