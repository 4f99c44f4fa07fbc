"""Model status of custom models (added in code, and at runtime through configure_llm and seen
through get_llm_status): status runs nothing without a configured version command."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio
from mcp import Client

from llminst import ModelSpec, open_supervisor
from llminst._core.builtins import BUILTIN_MODELS
from llminst.server import ServerOptions, create_server

from ..support.status import recording_cli
from ..support.unreachable import UnreachableStore
from ..support.versions import settled_models


async def test_status_never_runs_a_custom_model_without_a_version_command(
    tmp_path: Path,
) -> None:
    """A custom model (in code and through configure_llm) has nothing run by status: no
    version, and a note saying no version_command is configured."""
    script, log = recording_cli(tmp_path)
    custom = ModelSpec(name="wrapper", command=(str(script),))
    async with open_supervisor(models={"wrapper": custom}) as sup:
        for _ in range(3):
            (status,) = await sup.status(version_wait_s=float("inf"))
    server = create_server(ServerOptions(models=dict(BUILTIN_MODELS)))
    async with Client(server) as client:
        configured = await client.call_tool(
            "configure_llm", {"model": "paid", "command": [str(script)]}
        )
        assert not configured.is_error
        paid = (await settled_models(client))["paid"]
    assert not log.exists(), log.read_text()
    for reported in (status.to_dict(), paid):
        assert reported["available"] and reported["version"] is None
        assert reported["version_state"] == "not_configured"
        assert reported["version_note"].startswith("no version_command configured")


async def test_status_shows_the_store_degraded_while_its_server_is_unreachable() -> None:
    """get_llm_status carries store_degraded (and why) while the store's writes cannot reach
    its server; calls still answer; the flag drops once the server is back."""
    store = UnreachableStore()
    store.down = True
    server = create_server(ServerOptions(models=dict(BUILTIN_MODELS), store=store))
    async with Client(server) as client:
        answered = await client.call_tool("execute_llm", {"model": "echo", "prompt": "still"})
        assert not answered.is_error and answered.content[0].text == "still"  # type: ignore[union-attr]
        status = await _status_once(client, lambda status: status["store_degraded"])
        assert "ConnectionError" in status["store_error"]
        store.down = False
        status = await _status_once(client, lambda status: not status["store_degraded"])
        assert status["store_error"] is None
    (record,) = await store.list_calls()
    assert record.prompt == "still"


async def _status_once(
    client: Client, condition: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """get_llm_status's answer, polled as a client would until `condition` holds."""
    with trio.fail_after(60):
        while True:
            result = await client.call_tool("get_llm_status", {})
            assert result.structured_content is not None
            if condition(result.structured_content):
                return result.structured_content
            await trio.sleep(0.05)
