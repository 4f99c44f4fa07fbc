"""Secrets for the leak tests: distinctive fake keys, models that read them, and every tool call.

`SECRETS` go into the environment CLIs start from; `CALLS` runs every tool (successes and each
failure kind) over `MODELS`; `run_all` makes the calls and `assert_clean` fails naming where a
key appeared.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from mcp import Client

from llminst import ModelSpec

from .paths import FAKECLI
from .tools import text_of

SECRETS = {
    "ANTHROPIC_API_KEY": "sk-llminst-canary-7f3a9",
    "OPENAI_API_KEY": "sk-openai-canary-b81c4",
    "MY_SECRET_TOKEN": "tok-canary-55e2d",
}
CANARIES = tuple(SECRETS.values())
ENV_NAMES = "import os; print(sorted(os.environ))"
NEEDS_KEY = "import os, sys; sys.exit(0 if os.environ.get('ANTHROPIC_API_KEY') else 3)"


def python_model(name: str, code: str, **fields: Any) -> ModelSpec:
    return ModelSpec(name=name, command=(sys.executable, "-c", code), **fields)


MODELS = (
    python_model("envnames", ENV_NAMES, credential_env=("ANTHROPIC_API_KEY", "MY_SECRET_TOKEN")),
    python_model("needskey", NEEDS_KEY, credential_env=("ANTHROPIC_API_KEY",)),
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


def assert_clean(where: str, text: str) -> None:
    for canary in CANARIES:
        assert canary not in text, f"{canary!r} leaked into {where}: ...{_around(text, canary)}..."


def _around(text: str, needle: str) -> str:
    i = text.find(needle)
    return text[max(0, i - 150) : i + 50]


async def run_all(client: Client) -> list[Any]:
    results = []
    for tool, args in CALLS:
        result = await client.call_tool(tool, args)
        dumped = text_of(result) + json.dumps(result.structured_content, default=str)
        assert_clean(f"{tool}({args}) result", dumped)
        results.append(result)
    return results
