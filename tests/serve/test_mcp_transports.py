"""A real `llminst serve` subprocess over stdio and streamable HTTP, with trio and asyncio clients.

The HTTP tests that leave the server as they found it share one server with a token
(`token_server`, module-scoped: a server's start costs seconds of CPU on a loaded machine).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import trio
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from ..support.balancer import running_replicas
from ..support.procs import is_alive, parent, wait_for_pids
from ..support.progress import ProgressRecorder
from ..support.serve import (
    authorized,
    handshake,
    http_server,
    raw_stdio_server,
    read_until_result,
    send_lines,
    serve_argv,
    tree_config,
)
from ..support.tools import CONTRACT, text_of


async def exercise(client: Client) -> None:
    """The core scenarios every transport must pass."""
    tools = {t.name for t in (await client.list_tools()).tools}
    assert tools == set(CONTRACT)
    plain = await client.call_tool("execute_llm", {"model": "echo", "prompt": "over the wire"})
    assert text_of(plain) == "over the wire"
    recorder = ProgressRecorder()
    streamed = await client.call_tool(
        "stream_llm",
        {"model": "echo", "prompt": "[[echo:delay=0.15]] a b c d"},
        progress_callback=recorder,
    )
    assert text_of(streamed) == "a b c d"
    await recorder.wait_for_text("a b c d")
    assert len(recorder.chunks) >= 3
    failed = await client.call_tool("execute_llm", {"model": "nope", "prompt": "x"})
    assert failed.is_error and text_of(failed).startswith("unknown_model: ")
    as_json = await client.call_tool(
        "execute_llm",
        {"model": "echo", "prompt": "q", "json_mode": True, "json_schema": '{"type": "object"}'},
    )
    assert as_json.structured_content["parsed_json"] == {}


# --------------------------------------------------------------------------------------------
# stdio


async def test_stdio_with_the_trio_client(tmp_path: Path) -> None:
    """The SDK client on trio drives `llminst serve` over stdio."""
    config, _ = tree_config(tmp_path)
    argv = serve_argv(config)
    async with Client(StdioServerParameters(command=argv[0], args=argv[1:])) as client:
        await exercise(client)


async def test_stdio_with_the_asyncio_client(tmp_path: Path) -> None:
    """The SDK client on asyncio drives `llminst serve` over stdio."""
    config, _ = tree_config(tmp_path)
    argv = serve_argv(config)

    async def main() -> None:
        async with Client(StdioServerParameters(command=argv[0], args=argv[1:])) as client:
            await exercise_asyncio(client)

    await trio.to_thread.run_sync(asyncio.run, main())


async def exercise_asyncio(client: Client) -> None:
    result = await client.call_tool("execute_llm", {"model": "echo", "prompt": "from asyncio"})
    assert text_of(result) == "from asyncio"
    recorder = ProgressRecorder()
    await client.call_tool(
        "stream_llm",
        {"model": "echo", "prompt": "[[echo:delay=0.05]] x y z"},
        progress_callback=recorder,
    )
    await recorder.wait_for_text("x y z")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_to_the_stdio_server_mid_call_leaves_nothing(tmp_path: Path, sig: int) -> None:
    """SIGTERM/SIGINT mid-call: the server exits within seconds and no process of the tree lives."""
    config, pidfile = tree_config(tmp_path)
    argv = serve_argv(config)
    errors: list[BaseException] = []
    async with trio.open_nursery() as nursery:

        async def call() -> None:
            try:
                async with Client(StdioServerParameters(command=argv[0], args=argv[1:])) as client:
                    await client.call_tool("execute_llm", {"model": "tree", "prompt": "x"})
            except BaseException as exc:  # the connection closes under the call
                errors.append(exc)

        nursery.start_soon(call)
        pids = await wait_for_pids(pidfile, 2)
        server = parent(pids[0])
        assert server is not None
        os.kill(server, sig)
        start = trio.current_time()
        with trio.fail_after(5):
            while is_alive(server) or any(is_alive(p) for p in pids):  # noqa: ASYNC110
                await trio.sleep(0.02)
        exited_after = trio.current_time() - start
    assert exited_after < 3.0
    assert errors, "the client should see the connection close"


# --------------------------------------------------------------------------------------------
# Streamable HTTP


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``llminst serve --transport http --token TOKEN`` over `tree_config`; its MCP URL."""
    folder = tmp_path_factory.mktemp("token-server")
    config, _ = tree_config(folder)
    with running_replicas(folder, config, 1) as (server,):
        yield server.url


async def test_http_with_the_trio_client(token_server: str) -> None:
    """The SDK client on trio drives the server over streamable HTTP with a token."""
    async with (
        authorized() as http,
        Client(streamable_http_client(token_server, http_client=http)) as client,
    ):
        await exercise(client)


async def test_http_with_the_asyncio_client(token_server: str) -> None:
    """The SDK client on asyncio drives the server over streamable HTTP."""

    async def main() -> None:
        async with (
            authorized() as http,
            Client(streamable_http_client(token_server, http_client=http)) as client,
        ):
            await exercise_asyncio(client)

    await trio.to_thread.run_sync(asyncio.run, main())


async def test_http_refuses_requests_without_the_token(token_server: str) -> None:
    """No token or a wrong token gets 401 before MCP sees the request."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    url = token_server
    async with httpx2.AsyncClient() as http:
        missing = await http.post(url, json=body, headers=headers)
        wrong = await http.post(url, json=body, headers={**headers, "Authorization": "Bearer nope"})
    assert missing.status_code == 401 and wrong.status_code == 401
    assert "Bearer" in missing.headers["www-authenticate"]


async def test_http_blocks_dns_rebinding(tmp_path: Path) -> None:
    """A request whose Host or Origin is not this machine is refused."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    async with http_server(tmp_path) as (url, _), httpx2.AsyncClient() as http:
        bad_host = await http.post(url, json=body, headers={**headers, "Host": "evil.example:80"})
        bad_origin = await http.post(
            url, json=body, headers={**headers, "Origin": "http://evil.example"}
        )
    assert bad_host.status_code in (400, 421)
    assert bad_origin.status_code == 403


async def test_http_refuses_configure_llm_unless_allowed(tmp_path: Path) -> None:
    """configure_llm is refused over HTTP by default; with --allow-configure only allowlisted
    executables are accepted."""
    args = {"model": "x", "command": ["true", "--flag"]}
    async with http_server(tmp_path) as (url, _), Client(url) as client:
        refused = await client.call_tool("configure_llm", args)
    enabled = ("--allow-configure", "--allow-command", "true")
    async with http_server(tmp_path, *enabled) as (url, _), Client(url) as client:
        allowed = await client.call_tool("configure_llm", args)
        other = await client.call_tool("configure_llm", {"model": "y", "command": ["sh", "-c"]})
    assert refused.is_error and "--allow-configure" in text_of(refused)
    assert not allowed.is_error
    assert other.is_error and "allowlist" in text_of(other)


def test_http_allow_configure_without_an_allowlist_is_refused(tmp_path: Path) -> None:
    """--allow-configure over HTTP without --allow-command refuses to start and names the fix."""
    config, _ = tree_config(tmp_path)
    argv = serve_argv(config, "--transport", "http", "--port", "0", "--allow-configure")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "--allow-command" in done.stderr


async def test_http_sigterm_mid_call_leaves_nothing(tmp_path: Path) -> None:
    """SIGTERM to the HTTP server mid-call: it exits promptly and the call's tree is gone."""
    _, pidfile = tree_config(tmp_path)
    async with http_server(tmp_path) as (url, proc), trio.open_nursery() as nursery:

        async def call() -> None:
            try:
                async with Client(url) as client:
                    await client.call_tool("execute_llm", {"model": "tree", "prompt": "x"})
            except BaseException:
                pass

        nursery.start_soon(call)
        pids = await wait_for_pids(pidfile, 2)
        start = trio.current_time()
        proc.send_signal(signal.SIGTERM)
        with trio.fail_after(5):
            await proc.wait()
        exited_after = trio.current_time() - start
        nursery.cancel_scope.cancel()
    assert exited_after < 3.0
    assert not [p for p in pids if is_alive(p)]


def test_non_loopback_bind_without_token_is_refused(tmp_path: Path) -> None:
    """Binding beyond loopback without a token exits 2 with the reason and the fix."""
    config, _ = tree_config(tmp_path)
    result = subprocess.run(
        serve_argv(config, "--transport", "http", "--host", "0.0.0.0", "--port", "0"),
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "LLMINST_HTTP_TOKEN"},
    )
    assert result.returncode == 2
    assert "without a token" in result.stderr and "--token" in result.stderr


async def test_stdio_client_disconnect_mid_call_kills_the_tree(tmp_path: Path) -> None:
    """A client that closes the pipe mid-call: the tree dies at once and the server exits."""
    config, pidfile = tree_config(tmp_path)
    proc = await trio.lowlevel.open_process(
        serve_argv(config), stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin is not None
    messages = [
        *handshake(),
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "execute_llm", "arguments": {"model": "tree", "prompt": "x"}},
        },
    ]
    try:
        for message in messages:
            await proc.stdin.send_all((json.dumps(message) + "\n").encode())
        pids = await wait_for_pids(pidfile, 2)
        await proc.stdin.aclose()
        start = trio.current_time()
        with trio.fail_after(5):
            while any(is_alive(p) for p in pids):  # noqa: ASYNC110
                await trio.sleep(0.01)
            tree_gone_after = trio.current_time() - start
            await proc.wait()
        assert tree_gone_after < 1.0
        assert proc.returncode == 0
    finally:
        with trio.CancelScope(shield=True):
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def test_progress_on_the_wire_is_complete_under_backpressure(tmp_path: Path) -> None:
    """Regression: a coalescing timer that fired during a blocked send dropped that notification.

    Read the raw stdio wire: the progress counters must run 1..N without a gap and the messages
    must spell the output exactly.
    """
    config, _ = tree_config(tmp_path)
    words = " ".join(f"w{i}" for i in range(3000))
    for _ in range(3):
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {
                "name": "stream_llm",
                "arguments": {"model": "echo", "prompt": f"[[echo:delay=0]] {words}"},
                "_meta": {"progressToken": "tok"},
            },
        }
        async with raw_stdio_server(config) as proc:
            assert proc.stdout is not None
            await send_lines(proc, call)
            progress, result = await read_until_result(proc.stdout, 2)
        assert [p for p, _ in progress] == list(range(1, len(progress) + 1))
        assert (
            "".join(m for _, m in progress if m is not None)
            == result["structuredContent"]["output"]
        )
