"""Secrets never appear in what a real `llminst serve --log-level debug` returns or logs.

Every tool call of tests/support/canaries.py goes through the server over stdio, with the fake
keys in its environment; neither the results nor the server's stderr may hold one. What is
promised and what is not: tests/server/test_secrets.py.
"""

from __future__ import annotations

import os
from pathlib import Path

from mcp import Client, StdioServerParameters

from ..support.canaries import MODELS, SECRETS, assert_clean, run_all
from ..support.config import write_config
from ..support.paths import LLMINST


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
        await run_all(client)
    logged = stderr.read_text(errors="replace")
    assert "llminst.attempt" in logged or "llminst." in logged, logged[:500]
    assert_clean("the server's stderr", logged)
