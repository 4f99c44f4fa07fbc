"""Secrets in the environment never appear in logs, tool results or error messages.

Distinctive fake keys are put in the environment CLIs start from; every tool is run (successes
and each failure kind) in memory with structlog capturing at debug level, and through a real
`llminst serve --log-level debug` over stdio whose stderr is kept; the keys must appear nowhere.

What is promised, and what is not: llminst must never ADD a secret to what it reports. The keys
still reach the CLI (a model needs its credentials), and what the CLI itself prints, on stdout or
stderr, is the user's data: llminst returns it as printed (the output, or the stderr tail of a
failure) and does not try to scrub it, because guessing which printed strings are secrets would
corrupt real answers and give a false sense of safety. `test_the_cli_still_gets_its_key` pins
both halves: the key reaches the CLI, and a CLI that prints it is reported faithfully.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from mcp import Client, StdioServerParameters

from llminst import ModelSpec
from llminst.server import ServerOptions, create_server

from .support.config import write_config
from .support.models import FAST, models_with
from .support.paths import FAKECLI, LLMINST
from .support.tools import text_of

SECRETS = {
    "ANTHROPIC_API_KEY": "sk-llminst-canary-7f3a9",
    "OPENAI_API_KEY": "sk-openai-canary-b81c4",
    "MY_SECRET_TOKEN": "tok-canary-55e2d",
}
CANARIES = tuple(SECRETS.values())
ENV_NAMES = "import os; print(sorted(os.environ))"
NEEDS_KEY = "import os, sys; sys.exit(0 if os.environ.get('ANTHROPIC_API_KEY') else 3)"


def _spec(name: str, code: str, **fields: Any) -> ModelSpec:
    return ModelSpec(name=name, command=(sys.executable, "-c", code), **fields)


MODELS = (
    _spec("envnames", ENV_NAMES, credential_env=("ANTHROPIC_API_KEY", "MY_SECRET_TOKEN")),
    _spec("needskey", NEEDS_KEY, credential_env=("ANTHROPIC_API_KEY",)),
    ModelSpec(name="ghost", command=("no-such-cli-xyz",)),
    ModelSpec(name="prose", command=(sys.executable, FAKECLI, "say", "no JSON here")),
)

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("execute_llm", {"model": "echo", "prompt": "hello"}),
    ("execute_llm", {"model": "envnames", "prompt": "x"}),
    ("execute_llm", {"model": "needskey", "prompt": "x"}),
    ("execute_llm", {"model": "echo", "prompt": "[[echo:exit=4]]"}),
    ("execute_llm", {"model": "echo", "prompt": "[[echo:delay=0.3]] a b c d", "timeout": 0.5}),
    ("execute_llm", {"model": "nope", "prompt": "x"}),
    ("execute_llm", {"model": "ghost", "prompt": "x"}),
    ("execute_llm", {"model": "prose", "prompt": "x", "json_mode": True}),
    ("execute_llm", {"model": "echo", "prompt": "x", "json_schema": "{nope"}),
    ("execute_llm", {"model": "echo", "prompt": "x", "timeout": -1}),
    ("execute_llm", {"model": "echo", "prompt": 12}),
    ("stream_llm", {"model": "echo", "prompt": "streamed"}),
    ("stream_llm", {"model": "needskey", "prompt": "x"}),
    ("get_llm_status", {}),
    ("estimate_tokens", {"text": "some text", "model": "gpt-4"}),
    ("configure_llm", {"model": "mine", "command": [sys.executable, "-c", ENV_NAMES]}),
    ("configure_llm", {"model": "bad", "command": ["x"], "rate_limit_patterns": ["("]}),
    ("configure_llm", {"model": "x", "command": "'unterminated"}),
    ("execute_llm", {"model": "mine", "prompt": "x"}),
]


def _assert_clean(where: str, text: str) -> None:
    for canary in CANARIES:
        assert canary not in text, f"{canary!r} leaked into {where}: ...{_around(text, canary)}..."


def _around(text: str, needle: str) -> str:
    i = text.find(needle)
    return text[max(0, i - 150) : i + 50]


async def _run_all(client: Client) -> list[Any]:
    results = []
    for tool, args in CALLS:
        result = await client.call_tool(tool, args)
        dumped = text_of(result) + json.dumps(result.structured_content, default=str)
        _assert_clean(f"{tool}({args}) result", dumped)
        results.append(result)
    return results


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_no_secret_in_results_or_logs_in_memory(mode: str, echo_state) -> None:
    """Every tool, success and failure, with debug logging: no key in any result or log event."""
    base_env = {**os.environ, **SECRETS}
    server = create_server(
        ServerOptions(models=models_with(*MODELS), base_env=base_env, backoff=FAST)
    )
    with structlog.testing.capture_logs() as logs:
        async with Client(server, mode=mode) as client:
            results = await _run_all(client)
    assert logs, "nothing was logged: the capture is not working"
    _assert_clean("log events", repr(logs))
    kinds = {text_of(r).split(":", 1)[0] for r in results if r.is_error}
    expected = {"process_failed", "timeout", "unknown_model", "cli_not_found", "json_not_found"}
    assert expected <= kinds, kinds


async def test_no_secret_in_a_real_stdio_server(tmp_path: Path, echo_state) -> None:
    """`llminst serve --log-level debug` over stdio: no key in results or on its stderr."""
    models = {s.name: {"command": s.command, "credential_env": s.credential_env} for s in MODELS}
    config = write_config(tmp_path / "llminst.toml", models=models)
    stderr = tmp_path / "stderr.log"
    argv = [*LLMINST, "--config", str(config), "serve"]
    params = StdioServerParameters(
        command="sh",
        args=["-c", 'exec "$@" 2>"$STDERR_LOG"', "sh", *argv, "--log-level", "debug"],
        env={**os.environ, **SECRETS, "STDERR_LOG": str(stderr)},
    )
    async with Client(params) as client:
        await _run_all(client)
    logged = stderr.read_text(errors="replace")
    assert "llminst.attempt" in logged or "llminst." in logged, logged[:500]
    _assert_clean("the server's stderr", logged)


async def test_the_cli_still_gets_its_key(echo_state) -> None:
    """The key reaches the CLI; a CLI printing it is reported as printed (the user's data)."""
    printer = _spec(
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
