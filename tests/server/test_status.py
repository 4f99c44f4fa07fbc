"""Model status of custom models (added in code, and at runtime through configure_llm and seen
through get_llm_status): status runs nothing without a configured version command."""

from __future__ import annotations

from pathlib import Path

from mcp import Client

from llminst import ModelSpec, open_supervisor
from llminst._core.builtins import BUILTIN_MODELS
from llminst.server import ServerOptions, create_server

from ..support.status import recording_cli
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
