"""The MCP server: its tools, its lifespan (one supervisor for its whole life) and its HTTP app.

This module assembles the server from the tool modules (and the call output resource of
`jobs`); it never starts a process (the supervisor does) and holds no tool logic.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
from mcp.server import MCPServer
from mcp.server._otel import OpenTelemetryMiddleware
from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
from mcp.server.mcpserver.tools import Tool
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from opentelemetry import trace
from starlette.applications import Starlette

from .. import __version__
from .._core.paging import CLAUDE_CODE_MAX_TOKENS, ResultCap, parse_token_limit
from .._core.records import CallOrigin
from ..logs import get_logger
from ..supervisor import open_supervisor
from ..wire import AnswerMalformedMessages
from .compare import compare_tool
from .configure import configure_tool
from .jobs import OUTPUT_RESOURCE, job_tools, read_call_output
from .state import ServerOptions, ServerState
from .tools import call_tools
from .usage import usage_tools

__all__ = ["create_server"]

_log = get_logger()

INSTRUCTIONS = (
    "Runs LLM command-line tools (claude, gemini, codex, gpt-4, llm, llama, echo, or "
    "any configured command) as supervised subprocesses. Call get_llm_status to see "
    "which are installed; the 'echo' model always works and answers with the prompt."
)


class _Server(MCPServer):
    """The SDK's server, whose streamable HTTP app answers a body that is not a JSON-RPC
    message with the error stdio gives (see `wire`), whoever serves the app."""

    def streamable_http_app(
        self,
        *,
        streamable_http_path: str = "/mcp",
        max_request_body_size: int = DEFAULT_MAX_REQUEST_BODY_SIZE,
        **options: Any,
    ) -> Starlette:
        app = super().streamable_http_app(
            streamable_http_path=streamable_http_path,
            max_request_body_size=max_request_body_size,
            **options,
        )
        app.add_middleware(
            AnswerMalformedMessages,
            path=streamable_http_path,
            max_body_size=max_request_body_size,
        )
        return app


class _SpansWhileTracing:
    """The SDK's OpenTelemetry middleware, entered only while a tracer provider is configured.

    Without one (the proxy provider) the spans it opens record nothing, yet opening and closing
    one costs about 50 us a request, a tenth of the server's own MCP work on a small call. With
    one, set before the server starts or later, every message gets its span as before.
    """

    def __init__(self, spans: ServerMiddleware[Any]) -> None:
        self._spans = spans

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            return await call_next(ctx)
        return await self._spans(ctx, call_next)


def create_server(options: ServerOptions) -> MCPServer:
    """Build the MCP server; its lifespan owns one supervisor for the server's whole life.

    Raises:
        InvalidInputError: a result cap that is not a positive number (max_result_chars, or
            max_result_tokens of 400 or less).
    """
    result_cap = _result_cap(options)

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[ServerState]:
        # The environment is read once, as the server starts: each call marks its CLI's
        # environment (subreaper mode), and converting os.environ anew for every call cost
        # about 0.1 ms a call.
        base_env = dict(os.environ) if options.base_env is None else options.base_env
        async with (
            open_supervisor(
                models=options.models,
                settings=options.settings,
                base_env=base_env,
                backoff=options.backoff,
                # The server owns its children's descendants: those that escape their process
                # group (setsid) are re-parented to it, killed and reaped at the end of each call.
                subreaper=True,
                allowed_roots=options.allowed_roots,
                store=options.store,
                origin=CallOrigin.MCP,
                keep_prompts=options.keep_prompts,
                budget=options.budget,
            ) as supervisor,
            trio.open_nursery() as background,
        ):
            _log.info("llminst.server.started", models=sorted(options.models))
            if options.background is not None:
                background.start_soon(options.background, supervisor)
            try:
                yield ServerState(supervisor, options, result_cap)
                if options.finish_jobs_on_close and supervisor.running():
                    _log.info("llminst.server.finishing_jobs", running=supervisor.running())
                    await supervisor.jobs.wait_all()
            finally:
                background.cancel_scope.cancel()
                _log.info("llminst.server.stopping", running=supervisor.running())

    server = _Server(
        "llminst",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        tools=_tools(),
    )
    server.resource(
        OUTPUT_RESOURCE,
        name="call_output",
        title="A call's output",
        description="The whole output of a call (so far), by its call_id; for output that "
        "did not fit in a tool result.",
        mime_type="text/plain",
    )(read_call_output)
    return _spans_only_while_tracing(server)


def _spans_only_while_tracing(server: MCPServer) -> MCPServer:
    """`server`, its SDK OpenTelemetry middleware wrapped in `_SpansWhileTracing`."""
    server.middleware[:] = [
        _SpansWhileTracing(m) if isinstance(m, OpenTelemetryMiddleware) else m
        for m in server.middleware
    ]
    return server


def _tools() -> list[Tool]:
    """Every tool, in the order clients list them."""
    return [*call_tools(), *job_tools(), compare_tool(), configure_tool(), *usage_tools()]


def _result_cap(options: ServerOptions) -> ResultCap:
    """The result cap: the options', else Claude Code's ``MAX_MCP_OUTPUT_TOKENS`` of this
    process's environment (Claude Code starts its stdio servers with its own), else 25,000."""
    tokens = options.max_result_tokens
    if tokens is None:
        setting = os.environ.get("MAX_MCP_OUTPUT_TOKENS")
        tokens = parse_token_limit(setting)
        if setting is not None and tokens is None:
            _log.warning(
                "llminst.server.token_limit_ignored",
                variable="MAX_MCP_OUTPUT_TOKENS",
                value=setting[:40],
                using=CLAUDE_CODE_MAX_TOKENS,
                fix="set it to a whole number of tokens over 400",
            )
    return ResultCap(
        max_chars=options.max_result_chars, max_tokens=tokens or CLAUDE_CODE_MAX_TOKENS
    )
