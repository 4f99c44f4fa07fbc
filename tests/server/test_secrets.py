"""Secrets in the environment never appear in logs, tool results or error messages.

Distinctive fake keys (tests/support/canaries.py) are put in the environment CLIs start from;
every tool is run (successes and each failure kind) in memory with structlog capturing at debug
level, and through a real `llminst serve --log-level debug` over stdio whose stderr is kept
(tests/serve/test_secrets.py); the keys must appear nowhere.

What is promised, and what is not: llminst must never ADD a secret to what it reports. The keys
still reach the CLI (a model needs its credentials), and what the CLI itself prints, on stdout or
stderr, is the user's data: llminst returns it as printed (the output, or the stderr tail of a
failure) and does not try to scrub it, because guessing which printed strings are secrets would
corrupt real answers and give a false sense of safety. `test_the_cli_still_gets_its_key` pins
both halves: the key reaches the CLI, and a CLI that prints it is reported faithfully.
"""

from __future__ import annotations

import os

import pytest
import structlog.testing
from mcp import Client

from llminst.server import ServerOptions, create_server

from ..support.canaries import MODELS, SECRETS, assert_clean, python_model, run_all
from ..support.models import FAST, models_with
from ..support.tools import text_of


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_no_secret_in_results_or_logs_in_memory(mode: str, echo_state) -> None:
    """Every tool, success and failure, with debug logging: no key in any result or log event."""
    base_env = {**os.environ, **SECRETS}
    server = create_server(
        ServerOptions(models=models_with(*MODELS), base_env=base_env, backoff=FAST)
    )
    with structlog.testing.capture_logs() as logs:
        async with Client(server, mode=mode) as client:
            results = await run_all(client)
    assert logs, "nothing was logged: the capture is not working"
    assert_clean("log events", repr(logs))
    kinds = {text_of(r).split(":", 1)[0] for r in results if r.is_error}
    expected = {"process_failed", "timeout", "unknown_model", "cli_not_found", "json_not_found"}
    assert expected <= kinds, kinds


async def test_the_cli_still_gets_its_key(echo_state) -> None:
    """The key reaches the CLI; a CLI printing it is reported as printed (the user's data)."""
    printer = python_model(
        "printer",
        "import os, sys; sys.stderr.write(os.environ['MY_SECRET_TOKEN'] + '\\n'); sys.exit(2)",
    )
    base_env = {**os.environ, **SECRETS}
    server = create_server(
        ServerOptions(models=models_with(*MODELS, printer), base_env=base_env, backoff=FAST)
    )
    async with Client(server) as client:
        names = await client.call_tool("execute_llm", {"model": "envnames", "prompt": "x"})
        keyed = await client.call_tool("execute_llm", {"model": "needskey", "prompt": "x"})
        printed = await client.call_tool("execute_llm", {"model": "printer", "prompt": "x"})
    assert "ANTHROPIC_API_KEY" in text_of(names) and "MY_SECRET_TOKEN" in text_of(names)
    assert not keyed.is_error, text_of(keyed)
    assert printed.is_error and text_of(printed).startswith("process_failed: ")
    assert SECRETS["MY_SECRET_TOKEN"] in text_of(printed)  # the CLI's own stderr, not llminst's
