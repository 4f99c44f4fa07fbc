"""Failure messages through the MCP tools: the same wording as the library's, after the kind."""

from __future__ import annotations

from pathlib import Path

import attrs
from mcp import Client

from llminst import BUILTIN_MODELS
from llminst.server import ServerOptions, create_server

from ..support.models import models_with
from ..support.scripts import (
    CONTEXT_TOO_SMALL,
    NO_DEADLINE,
    SETTINGS,
    codex_turn_failed,
    script_spec,
    write_script,
)
from ..support.tools import text_of


async def test_mcp_errors_carry_the_same_messages(tmp_path: Path, pidfile: Path) -> None:
    """Through execute_llm: the kind, then the message; the structured result has the kind."""
    codex = script_spec(pidfile, codex_turn_failed(tmp_path), base=BUILTIN_MODELS["codex"])
    stalled = attrs.evolve(
        script_spec(
            pidfile,
            write_script(
                tmp_path, [{"stderr": "fetch failed: getaddrinfo ENOTFOUND api"}] * 3, exit=None
            ),
        ),
        name="stalled",
    )
    options = ServerOptions(models=models_with(codex, stalled), settings=SETTINGS)
    async with Client(create_server(options)) as client:
        failed = await client.call_tool("execute_llm", {"model": "fake", "prompt": "hi"})
        unreachable = await client.call_tool(
            "execute_llm", {"model": "stalled", "prompt": "hi", "timeout": NO_DEADLINE}
        )
    failed_text = text_of(failed)
    assert failed.is_error and failed_text.startswith(
        "process_failed: model 'fake': the CLI reported a failure (turn.failed) with exit code "
        f"1; the CLI's result line says: {CONTEXT_TOO_SMALL}; stderr ends with:"
    ), failed_text
    assert failed.structured_content["output"] == ""
    text = text_of(unreachable)
    assert unreachable.is_error and text.startswith(
        "api_unreachable: model 'stalled': stopped the CLI after it printed the same connection "
        "error 3 times on stderr without answering: 'fetch failed: getaddrinfo ENOTFOUND api'."
    ), text
    assert unreachable.structured_content["error_kind"] == "api_unreachable"
