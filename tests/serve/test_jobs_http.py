"""Jobs over streamable HTTP with a real `llminst serve`: a job outlives the client that started
it, and each token sees only its own calls.

Clients are the SDK's, over real sockets; the client that dies is a process of its own, killed
with SIGKILL (no MCP shutdown, no DELETE, no cancellation notice).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from ..support.paths import MCP_HTTP_JOB
from ..support.procs import is_alive, wait_for_pids
from ..support.serve import TOKEN, authorized, http_server
from ..support.tools import text_of

OTHER_TOKEN = "other-token-81c2"


@asynccontextmanager
async def client_of(url: str, token: str) -> AsyncIterator[Client]:
    async with (
        authorized(token) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


async def structured(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    return dict(result.structured_content)


async def wait_done(client: Client, call_id: str) -> dict[str, Any]:
    with trio.fail_after(120):
        while True:
            piece = await structured(client, "get_llm_result", call_id=call_id, wait_s=50)
            if piece["done"]:
                return piece


async def start_in_a_process_then_kill_it(url: str, model: str) -> str:
    """A client process starts a job, prints its id, and is SIGKILLed; the job's id."""
    starter = await trio.lowlevel.open_process(
        [sys.executable, MCP_HTTP_JOB, url, TOKEN, model, "x"], stdout=subprocess.PIPE
    )
    assert starter.stdout is not None
    try:
        seen = b""
        with trio.fail_after(60):
            while not seen.endswith(b"\n"):
                data = await starter.stdout.receive_some()
                assert data, "the client exited before it printed the call id"
                seen += data
    finally:
        with trio.CancelScope(shield=True):
            starter.kill()
            await starter.wait()
            await starter.stdout.aclose()
    assert starter.returncode == -9
    return seen.decode().strip()


async def test_a_job_outlives_the_client_that_started_it(tmp_path: Path) -> None:
    """Client A starts a job and is killed; the job goes on (its CLI answers only after A is
    gone) and client B, of the same token, fetches the whole result."""
    async with http_server(tmp_path, "--token", TOKEN) as (url, _):
        call_id = await start_in_a_process_then_kill_it(url, "gated")
        async with client_of(url, TOKEN) as b:
            first = await structured(b, "get_llm_result", call_id=call_id, wait_s=50)
            assert first["output"] == "before\n" and first["state"] == "running"
            (tmp_path / "gate").touch()  # the CLI answers only now that A is dead
            done = await wait_done(b, call_id)
            listed = (await structured(b, "list_llm_calls"))["calls"]
    assert done["state"] == "succeeded" and done["output"] == "before\nafter\n"
    assert done["result"]["success"] is True and done["result"]["call_id"] == call_id
    assert [c["call_id"] for c in listed] == [call_id]


async def test_each_token_sees_only_the_calls_it_started(tmp_path: Path) -> None:
    """With two tokens, a call of one is unknown_call to the other: results, cancel, the list
    and the output resource; its owner sees and cancels it."""
    async with (
        http_server(tmp_path, "--token", TOKEN, "--token", OTHER_TOKEN) as (url, _),
        client_of(url, TOKEN) as mine,
        client_of(url, OTHER_TOKEN) as theirs,
    ):
        call_id = (await structured(mine, "start_llm", model="tree", prompt="x"))["call_id"]
        pids = await wait_for_pids(tmp_path / "pids", 2, within_s=60)
        own = await structured(theirs, "execute_llm", model="echo", prompt="theirs")
        for tool in ("get_llm_result", "cancel_llm"):
            refused = await theirs.call_tool(tool, {"call_id": call_id})
            assert refused.is_error
            assert text_of(refused).startswith(f"unknown_call: no call '{call_id}'")
        with pytest.raises(MCPError, match="unknown_call"):
            await theirs.read_resource(f"llminst://calls/{call_id}/output")
        their_list = (await structured(theirs, "list_llm_calls"))["calls"]
        my_list = (await structured(mine, "list_llm_calls"))["calls"]
        assert [c["call_id"] for c in their_list] == [own["call_id"]]
        assert [c["call_id"] for c in my_list] == [call_id]
        with pytest.raises(MCPError, match="unknown_call"):
            await mine.read_resource(f"llminst://calls/{own['call_id']}/output")
        assert is_alive(pids[0]), "the other token's cancel must not have touched it"
        cancelled = await structured(mine, "cancel_llm", call_id=call_id)
        assert cancelled["cancelled"] is True and cancelled["state"] == "cancelled"
        assert not [pid for pid in pids if is_alive(pid)]


async def test_one_shared_token_sees_every_call(tmp_path: Path) -> None:
    """Every client of one token is the same owner: each sees the others' calls."""
    async with (
        http_server(tmp_path, "--token", TOKEN) as (url, _),
        client_of(url, TOKEN) as first,
        client_of(url, TOKEN) as second,
    ):
        done = await structured(first, "execute_llm", model="echo", prompt="shared")
        piece = await structured(second, "get_llm_result", call_id=done["call_id"])
        read = await second.read_resource(f"llminst://calls/{done['call_id']}/output")
    assert piece["output"] == "shared" and read.contents[0].text == "shared"
