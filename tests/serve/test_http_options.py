"""`llminst serve --transport http` start-up: the line saying where it listens, `--allow-host`,
and one-line errors for addresses it cannot listen on. Real servers, real clients (curl, the MCP
SDK client, raw sockets)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
import pytest
import trio
from attrs import frozen
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from llminst.transports import host_patterns

from ..support.paths import LLMINST
from ..support.procs import stop_server

TOKEN = "start-line-token-91c4"
LISTENING = re.compile(r"^llminst serve: listening on (http://\S+/mcp) \((.*)\)$", re.MULTILINE)
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "curl", "version": "0"},
    },
}


@frozen
class Serving:
    url: str
    port: int
    line: str  # the start line, after the URL
    stderr: bytes  # everything on stderr up to the start line


@asynccontextmanager
async def http_serve(*extra: str) -> AsyncIterator[Serving]:
    """`llminst serve --transport http --port 0 ...`, its URL read from its start line."""
    argv = [*LLMINST, "serve", "--transport", "http", "--port", "0", *extra]
    proc = await trio.lowlevel.open_process(argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    try:
        seen = bytearray()
        with trio.fail_after(60):
            while (found := LISTENING.search(seen.decode(errors="replace"))) is None:
                data = await proc.stderr.receive_some(65536)
                assert data, f"the server exited without its start line: {bytes(seen)!r}"
                seen += data
        url = found.group(1)
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        yield Serving(url, port, found.group(2), bytes(seen))
    finally:
        await stop_server(proc)


# --------------------------------------------------------------------------------------------
# The start line


async def test_start_line_gives_the_url_with_the_port_bound() -> None:
    """Regression: at the default log level `serve --port 0` said nothing, so the port it
    bound could not be known. The line gives the whole /mcp URL; a client connects to it."""
    async with http_serve() as serving:
        assert serving.url.startswith("http://127.0.0.1:") and serving.port > 0
        assert "no token required" in serving.line
        async with Client(serving.url) as client:
            tools = await client.list_tools()
    assert "execute_llm" in {tool.name for tool in tools.tools}


async def test_start_line_says_a_token_is_required_without_showing_it() -> None:
    """With --token: the line says clients must send it; the token itself never appears."""
    async with http_serve("--token", TOKEN) as serving:
        assert "Authorization: Bearer <token>" in serving.line
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            httpx2.AsyncClient(headers=headers) as http,
            Client(streamable_http_client(serving.url, http_client=http)) as client,
        ):
            result = await client.call_tool("execute_llm", {"model": "echo", "prompt": "hi"})
    assert TOKEN.encode() not in serving.stderr
    assert not result.is_error


async def test_start_line_says_when_the_server_is_stateless() -> None:
    """With --stateless the line says no MCP session is kept; without it, it says nothing."""
    async with http_serve("--stateless") as serving:
        assert "stateless: no MCP sessions, any replica answers" in serving.line
    async with http_serve() as serving:
        assert "stateless" not in serving.line


# --------------------------------------------------------------------------------------------
# --allow-host


async def _status_for_host(url: str, host: str) -> int:
    """POST an initialize to `url` with curl, sending `Host: host`; the HTTP status."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    done = await trio.run_process(
        [
            curl,
            "--silent",
            "--output",
            "/dev/null",
            "--write-out",
            "%{http_code}",
            "--header",
            f"Host: {host}",
            "--header",
            "Content-Type: application/json",
            "--header",
            "Accept: application/json, text/event-stream",
            "--data",
            json.dumps(INITIALIZE),
            url,
        ],
        capture_stdout=True,
    )
    return int(done.stdout)


async def test_allow_host_accepts_a_bare_name_on_any_port() -> None:
    """Regression: `--allow-host myhost` (the README's example) answered every real client with
    421, because clients send `Host: myhost:PORT`. A bare name now accepts any port."""
    async with http_serve("--allow-host", "MyHost") as serving:
        with_port = await _status_for_host(serving.url, f"myhost:{serving.port}")
        other_port = await _status_for_host(serving.url, "myhost:9")
        bare = await _status_for_host(serving.url, "myhost")
        stranger = await _status_for_host(serving.url, f"evil.example:{serving.port}")
    assert (with_port, other_port, bare) == (200, 200, 200)
    assert stranger == 421


async def test_allow_host_with_a_port_accepts_that_port_only() -> None:
    """`--allow-host myhost:1234` accepts `Host: myhost:1234` and nothing else of myhost."""
    async with http_serve("--allow-host", "myhost:1234") as serving:
        statuses = [
            await _status_for_host(serving.url, host)
            for host in ("myhost:1234", "myhost:1235", "myhost")
        ]
    assert statuses == [200, 421, 421]


async def test_the_sdk_client_works_through_an_allowed_host_name() -> None:
    """The MCP SDK client, connecting as `myhost:PORT` (the Host header a client sends when it
    reaches the server by that name), lists the tools and gets an answer."""
    async with http_serve("--allow-host", "myhost") as serving:
        assert "myhost" in serving.line  # the accepted names are on the start line
        async with (
            httpx2.AsyncClient(headers={"Host": f"myhost:{serving.port}"}) as http,
            Client(streamable_http_client(serving.url, http_client=http)) as client,
        ):
            await client.list_tools()
            result = await client.call_tool("execute_llm", {"model": "echo", "prompt": "hi"})
    assert not result.is_error


# --------------------------------------------------------------------------------------------
# Addresses it cannot listen on: one line, exit 2


def _serve_http(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [*LLMINST, "serve", "--transport", "http", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def _assert_one_line_refusal(done: subprocess.CompletedProcess[str], *says: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("llminst serve: invalid_input: "), lines[0]
    for text in says:
        assert text in lines[0], lines[0]


def test_a_port_in_use_is_one_line_with_the_fix() -> None:
    """Regression: a port in use gave a 51-line traceback and exit 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _serve_http("--port", str(port))
    _assert_one_line_refusal(done, f"127.0.0.1:{port}", "already in use", "--port 0")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--port", "99999"], ["99999", "1-65535", "--port"]),
        (["--port", "-1"], ["-1", "1-65535"]),
        (["--host", "no-such-host.invalid", "--token", TOKEN], ["does not resolve", "--host"]),
        (["--host", "192.0.2.1", "--token", TOKEN], ["not an address of this machine"]),
        (["--allow-host", "http://myhost"], ["not a URL"]),
        (["--allow-host", "myhost:http"], ["not a port"]),
    ],
    ids=["port-too-big", "port-negative", "unresolvable", "foreign-address", "url", "bad-port"],
)
def test_bad_addresses_are_one_line_with_the_fix(args: list[str], says: list[str]) -> None:
    """Regression: these gave tracebacks. Now: what is wrong and what to do, exit 2."""
    done = _serve_http(*args)
    _assert_one_line_refusal(done, *says)
    assert TOKEN not in done.stderr


def test_the_token_refusal_names_its_kind() -> None:
    """The existing refusal (a non-loopback bind without a token) starts with its kind too."""
    done = subprocess.run(
        [*LLMINST, "serve", "--transport", "http", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "LLMINST_HTTP_TOKEN"},
    )
    _assert_one_line_refusal(done, "without a token", "--token")


@pytest.mark.parametrize(
    ("value", "patterns"),
    [
        ("MyHost", ["myhost", "myhost:*"]),
        ("myhost:8080", ["myhost:8080"]),
        ("myhost:*", ["myhost:*"]),
        ("192.0.2.7", ["192.0.2.7", "192.0.2.7:*"]),
        ("2001:db8::7", ["[2001:db8::7]", "[2001:db8::7]:*"]),
        ("[2001:db8::7]", ["[2001:db8::7]", "[2001:db8::7]:*"]),
        ("[2001:db8::7]:8080", ["[2001:db8::7]:8080"]),
    ],
)
def test_allow_host_values_become_host_header_patterns(value: str, patterns: list[str]) -> None:
    """What each --allow-host form accepts, as the SDK's Host check matches it."""
    assert host_patterns(value) == patterns
