"""What clients see of the tools stays put: names, descriptions, schemas and annotations.

`tests/fixtures/mcp/tools.json` is the `tools/list` answer as a client receives it over JSON-RPC,
recorded before the server became a package (issue 11). A change to a tool's arguments, their
types, descriptions or defaults, or to a result's shape, fails here first; when the change is
meant, rewrite the snapshot with ``python -m tests.server.test_tool_schemas`` and let the diff
show what clients will see.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
import trio
from mcp import Client

from llminst._core.builtins import BUILTIN_MODELS
from llminst.server import ServerOptions, create_server

from ..support.paths import FIXTURES

TOOLS = [
    "execute_llm",
    "stream_llm",
    "get_llm_status",
    "estimate_tokens",
    "list_llm_sessions",
    "compare_llms",
    "start_llm",
    "get_llm_result",
    "cancel_llm",
    "list_llm_calls",
    "configure_llm",
]

SNAPSHOT = FIXTURES / "mcp" / "tools.json"


async def listed_tools() -> dict[str, dict[str, Any]]:
    """Every tool as the JSON-RPC client receives it, keyed by name, in the server's order."""
    server = create_server(ServerOptions(models=BUILTIN_MODELS))
    async with Client(server, mode="legacy") as client:
        tools = (await client.list_tools()).tools
    return {t.name: t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools}


@pytest.fixture(scope="module")
def snapshot() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads(SNAPSHOT.read_text())
    return data


@pytest.fixture(scope="module")
def listed() -> dict[str, dict[str, Any]]:
    """Listed once for the module (a server of its own, in a trio run of its own)."""
    return trio.run(listed_tools)


def test_the_same_tools_in_the_same_order(snapshot: dict, listed: dict) -> None:
    """The server lists the recorded tools, in the recorded order."""
    assert list(listed) == list(snapshot)


@pytest.mark.parametrize("part", ["description", "inputSchema", "annotations"])
@pytest.mark.parametrize("tool", TOOLS)
def test_each_tool_keeps_what_clients_see(
    snapshot: dict, listed: dict, tool: str, part: str
) -> None:
    """Arguments (names, order, types, descriptions, defaults), descriptions and annotations
    are exactly the recorded ones."""
    assert json.dumps(listed[tool].get(part), indent=1) == json.dumps(
        snapshot[tool].get(part), indent=1
    )


@pytest.mark.parametrize("tool", TOOLS)
def test_each_tool_keeps_its_output_schema(snapshot: dict, listed: dict, tool: str) -> None:
    """A result's shape is exactly the recorded one."""
    assert json.dumps(listed[tool]["outputSchema"], indent=1) == json.dumps(
        snapshot[tool]["outputSchema"], indent=1
    )


if __name__ == "__main__":
    SNAPSHOT.write_text(json.dumps(trio.run(listed_tools), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.write(f"wrote {SNAPSHOT}\n")
