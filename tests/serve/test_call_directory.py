"""A call's cwd through a real `llminst serve`: over HTTP only under the allowed roots (the
config file's ``[server] allowed_roots`` and ``--allow-root``, compared as real paths), and not
at all without them; over stdio any directory."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from ..support.config import write_config
from ..support.paths import FAKECLI
from ..support.serve import TOKEN, authorized, http_server, serve_argv
from ..support.tools import text_of

PWD_MODEL = {"pwd": {"command": [sys.executable, FAKECLI, "pwd"]}}


def _config(tmp_path: Path, **server: Any) -> Path:
    return write_config(tmp_path / "llminst.toml", models=PWD_MODEL, server=server or None)


@asynccontextmanager
async def _http_client(tmp_path: Path, config: Path, *extra: str) -> AsyncIterator[Client]:
    async with (
        http_server(tmp_path, "--token", TOKEN, *extra, config=config) as (url, _),
        authorized() as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


async def _pwd(client: Client, cwd: str) -> tuple[bool, str]:
    result = await client.call_tool("execute_llm", {"model": "pwd", "prompt": "x", "cwd": cwd})
    return result.is_error, text_of(result).strip()


async def test_http_without_roots_refuses_any_cwd(tmp_path: Path) -> None:
    async with _http_client(tmp_path, _config(tmp_path)) as client:
        refused, text = await _pwd(client, str(tmp_path))
        plain = await client.call_tool("execute_llm", {"model": "echo", "prompt": "still here"})
    assert refused
    assert text.startswith("invalid_input: cwd: this server runs calls in a directory")
    assert "set [server] allowed_roots" in text
    assert text_of(plain) == "still here"


async def test_http_runs_calls_only_under_the_allowed_roots(tmp_path: Path) -> None:
    """Roots from the config file and from --allow-root; a symlink out of a root is refused."""
    from_config, from_flag, outside = (tmp_path / n for n in ("config-root", "flag-root", "out"))
    for directory in (from_config / "project", from_flag, outside):
        directory.mkdir(parents=True)
    (from_config / "escape").symlink_to(outside)
    config = _config(tmp_path, allowed_roots=[str(from_config)])
    async with _http_client(tmp_path, config, "--allow-root", str(from_flag)) as client:
        in_config_root = await _pwd(client, str(from_config / "project"))
        in_flag_root = await _pwd(client, str(from_flag))
        out = await _pwd(client, str(outside))
        escape = await _pwd(client, str(from_config / "escape"))
        dotdot = await _pwd(client, f"{from_config}/../out")
    assert in_config_root == (False, str(from_config / "project"))
    assert in_flag_root == (False, str(from_flag))
    for refused, text in (out, escape, dotdot):
        assert refused and text.startswith("invalid_input: cwd: "), text
        assert "is not under this server's allowed roots" in text
    assert f"(which leads to {str(outside)!r})" in escape[1]


async def test_stdio_runs_calls_in_any_directory(tmp_path: Path) -> None:
    argv = serve_argv(_config(tmp_path))
    async with Client(StdioServerParameters(command=argv[0], args=argv[1:])) as client:
        assert await _pwd(client, str(tmp_path)) == (False, str(tmp_path))
        assert await _pwd(client, "/") == (False, "/")


async def test_stdio_with_roots_keeps_calls_under_them(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    argv = serve_argv(_config(tmp_path, allowed_roots=[str(root)]))
    async with Client(StdioServerParameters(command=argv[0], args=argv[1:])) as client:
        assert await _pwd(client, str(root)) == (False, str(root))
        refused, text = await _pwd(client, str(tmp_path))
    assert refused and "is not under this server's allowed roots" in text
