"""The MCP tools as a client sees them: their public contract, their text, an in-memory client.

`connect(mode, *specs)` is the SDK's in-memory `Client` of a fresh server over the built-in
models plus `specs` (mode ``auto``: the direct dispatcher; ``legacy``: real JSON-RPC).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from mcp import Client

from llminst import ModelSpec
from llminst.server import ServerOptions, create_server
from llminst.server.results import ExecuteResult

from .models import FAST, models_with

# The tools and their parameters, in order: what clients rely on.
CONTRACT = {
    "execute_llm": [
        "prompt",
        "model",
        "timeout",
        "json_mode",
        "stream",
        "json_schema",
        "system_prompt",
        "cwd",
        "fallbacks",
        "session",
        "cache",
    ],
    "stream_llm": [
        "model",
        "prompt",
        "timeout",
        "system_prompt",
        "cwd",
        "fallbacks",
        "session",
        "cache",
    ],
    "get_llm_status": ["probe"],
    "estimate_tokens": ["text", "model"],
    "list_llm_sessions": ["limit"],
    "compare_llms": ["prompt", "models", "timeout", "json_mode", "json_schema", "synthesize_with"],
    "start_llm": [
        "prompt",
        "model",
        "timeout",
        "json_mode",
        "json_schema",
        "system_prompt",
        "cwd",
        "fallbacks",
        "session",
    ],
    "get_llm_result": ["call_id", "wait_s", "offset", "max_chars"],
    "cancel_llm": ["call_id"],
    "list_llm_calls": ["state", "model", "limit"],
    "configure_llm": [
        "model",
        "command",
        "timeout_category",
        "rate_limit_patterns",
        "prompt_mode",
        "stdin_fallback",
        "prompt_separator",
        "argv_prompt_limit",
        "stream_args",
        "json_args",
        "json_schema_args",
        "submodel_args",
        "default_submodel",
        "output_format",
        "env",
        "env_remove",
        "credential_env",
        "auth_patterns",
        "auth_hint",
        "unreachable_patterns",
        "unreachable_hint",
        "error_hints",
        "install_hint",
        "max_attempts",
        "max_concurrency",
        "concurrency_scope",
        "cwd",
        "version_command",
        "system_prompt_args",
        "account",
        "fallbacks",
        "fallback_on",
        "resume_args",
        "sessionless_args",
        "history_args",
        "expected_memory_mb",
        "max_memory_mb",
        "cache_ttl_s",
        "price_in_per_mtok",
        "price_out_per_mtok",
        "budget_daily_usd",
        "budget_monthly_usd",
        "warm",
        "warm_idle_s",
    ],
    "get_llm_usage": ["since", "group_by"],
}


def call_fields(structured: Mapping[str, Any] | None) -> dict[str, Any]:
    """A call's structured result as a client that reads the output schema sees it: each
    field the server left out (it held its default) read as the default the schema states."""
    assert structured is not None, "the result has no structured content"
    properties = ExecuteResult.model_json_schema()["properties"]
    defaults = {name: prop["default"] for name, prop in properties.items() if "default" in prop}
    return {**defaults, **structured}


def text_of(result: Any) -> str:
    """The text content of a tool result (what a client shows)."""
    return "".join(c.text for c in result.content if c.type == "text")


@asynccontextmanager
async def connect(mode: str, *specs: ModelSpec, **options: Any) -> AsyncIterator[Client]:
    """An in-memory client of a fresh server; `options` go to ServerOptions (backoff: FAST)."""
    options.setdefault("backoff", FAST)
    server = create_server(ServerOptions(models=models_with(*specs), **options))
    async with Client(server, mode=mode) as client:
        yield client
