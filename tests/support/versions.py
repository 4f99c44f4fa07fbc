"""Reading model status until every version command has answered (never a short timing bet).

A status waits a moment for version commands and reports the slow ones as ``probing`` while
they keep running; these helpers ask again until none is probing, within a generous bound, and
fail naming the models still probing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import trio
from mcp import Client

from llminst.supervisor import Supervisor

Models = Mapping[str, Mapping[str, Any]]
SETTLE_WITHIN_S = 120.0  # a loaded 2-core machine took 3.1 s for `gemini --version`


async def until_versions_settle(
    read: Callable[[], Awaitable[Models]], *, within_s: float = SETTLE_WITHIN_S
) -> Models:
    """Call `read` (model name -> status dict) until no version_state is ``probing``."""
    models: Models = {}
    with trio.move_on_after(within_s):
        while True:
            models = await read()
            if all(m["version_state"] != "probing" for m in models.values()):
                return models
            await trio.sleep(0.1)  # each read already waited for the commands still running
    probing = sorted(name for name, m in models.items() if m["version_state"] == "probing")
    raise AssertionError(f"versions still probing after {within_s:g} s: {probing}")


async def settled_models(client: Client) -> Models:
    """``get_llm_status`` through an MCP client, once no version is probing."""

    async def read() -> Models:
        result = await client.call_tool("get_llm_status", {})
        assert not result.is_error, result
        return {m["model"]: m for m in result.structured_content["models"]}

    return await until_versions_settle(read)


async def settled_statuses(supervisor: Supervisor) -> Models:
    """`Supervisor.status()` as dicts by model name, once no version is probing."""

    async def read() -> Models:
        return {s.model: s.to_dict() for s in await supervisor.status()}

    return await until_versions_settle(read)
