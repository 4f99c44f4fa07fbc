"""Stateless streamable HTTP (`llminst serve --transport http --stateless`): any replica answers
any request, so replicas behind a load balancer need no sticky sessions.

Two real servers on one store; the test plays the load balancer, sending each HTTP request to
the next replica in turn (`RoundRobin`). Handshake-era clients (protocol 2025-11-25, what most
clients speak today) need ``--stateless`` for that; 2026-07-28 clients send self-contained
requests either way. Streaming (progress notifications) rides on the response of the request
it belongs to, so it works in both.

Starting a replica costs seconds of CPU on a loaded machine, so the tests on ``--stateless``
replicas share one pair (`stateless_pair`, module-scoped): each test that runs a tree has a
model and a PID file of its own, so none sees another's processes. The test of a stateful
server starts its own pair.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import trio
from mcp.shared.exceptions import MCPError

from ..support.balancer import (
    Replica,
    balanced_client,
    open_replicas,
    running_replicas,
    wait_gone,
)
from ..support.config import write_config
from ..support.paths import FAKECLI, MCP_HTTP_CALL
from ..support.procs import wait_for_pids
from ..support.progress import ProgressRecorder
from ..support.serve import TOKEN, serve_argv, tree_config
from ..support.tools import text_of

LEGACY = "2025-11-25"
JSON_AND_SSE = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


# The models of the shared pair that run a tree: one per test, each with its own PID file.
_TREE_MODELS = ("tree-balanced", "tree-vanished")


def _shared_config(folder: Path) -> Path:
    """`tree_config`'s grace period, with one hanging-tree model per test that needs one (its
    PIDs in ``pids-MODEL``)."""
    models = {
        name: {
            "command": [sys.executable, FAKECLI, "hang-tree"],
            "env": {"FAKECLI_PIDFILE": str(folder / f"pids-{name}")},
        }
        for name in _TREE_MODELS
    }
    return write_config(folder / "llminst.toml", models=models, settings={"grace_period_s": 1.0})


@pytest.fixture(scope="module")
def stateless_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Replica]]:
    """Two ``--stateless`` replicas on one store, shared by this module's tests."""
    folder = tmp_path_factory.mktemp("stateless-pair")
    with running_replicas(folder, _shared_config(folder), 2, "--stateless") as replicas:
        yield replicas


def _pidfile_of(replicas: list[Replica], model: str) -> Path:
    return replicas[0].log.parent / f"pids-{model}"


def _sse_message(response: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC message of a one-request response (JSON or one SSE ``data:`` event)."""
    if response.headers["content-type"].startswith("application/json"):
        return dict(response.json())
    data = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
    return dict(json.loads(data[-1]))


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_any_replica_answers_any_request_when_stateless(
    stateless_pair: list[Replica], mode: str
) -> None:
    """One SDK client whose requests alternate between two --stateless replicas: the handshake
    on one, the calls on the other; the streamed text arrives as progress, and a call made
    through one replica is listed through the other (one store)."""
    progress = ProgressRecorder()
    prompt = f"hello {mode}"  # this test's own call, whatever the shared store holds
    async with balanced_client(stateless_pair, mode=mode) as (client, balancer):
        result = await client.call_tool(
            "execute_llm", {"model": "echo", "prompt": prompt}, progress_callback=progress
        )
        await progress.wait_for_text(prompt, within_s=30)
        listed = await client.call_tool("list_llm_calls", {})
    assert not result.is_error and text_of(result) == prompt
    listed_calls = json.loads(text_of(listed))["calls"]
    assert any(
        call["model"] == "echo" and call["prompt_preview"] == prompt for call in listed_calls
    ), listed_calls
    assert {port for port, _ in balancer.sent} == {r.port for r in stateless_pair}


async def test_a_stateful_server_needs_sticky_sessions(tmp_path: Path) -> None:
    """Without --stateless a handshake-era session lives on the replica that opened it: the
    same round-robin client fails on the other one (what --stateless is for)."""
    config, _ = tree_config(tmp_path)
    async with open_replicas(tmp_path, config, 2) as replicas:
        with pytest.raises(BaseExceptionGroup) as caught:  # the SDK's nurseries wrap it
            async with balanced_client(replicas, mode="legacy") as (client, _):
                await client.call_tool("execute_llm", {"model": "echo", "prompt": "hi"})
    assert caught.group_contains(MCPError, match="Session not found", depth=None)


async def test_initialize_on_one_replica_and_call_on_another_in_raw_http(
    stateless_pair: list[Replica],
) -> None:
    """The wire, without the SDK client: initialize answered by A with no session id, then
    tools/call sent to B with no session id is answered by B."""
    a, b = stateless_pair
    auth = {"Authorization": f"Bearer {TOKEN}"}
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "execute_llm", "arguments": {"model": "echo", "prompt": "raw hi"}},
    }
    headers = {**JSON_AND_SSE, **auth}
    async with httpx2.AsyncClient(timeout=60) as http:
        opened = await http.post(a.url, json=initialize, headers=headers)
        answered = await http.post(
            b.url, json=call, headers={**headers, "MCP-Protocol-Version": LEGACY}
        )
    assert opened.status_code == 200 and "mcp-session-id" not in opened.headers
    assert _sse_message(opened)["result"]["protocolVersion"] == LEGACY
    assert answered.status_code == 200, answered.text
    assert _sse_message(answered)["result"]["content"][0]["text"] == "raw hi"


async def test_stateless_replicas_keep_the_token_and_host_rules(
    stateless_pair: list[Replica],
) -> None:
    """--stateless changes nothing at the door: no token -> 401, a foreign Host is refused."""
    replica = stateless_pair[0]
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    modern = {**JSON_AND_SSE, "MCP-Protocol-Version": "2026-07-28"}
    async with httpx2.AsyncClient(timeout=60) as http:
        for headers in (JSON_AND_SSE, modern):
            missing = await http.post(replica.url, json=body, headers=headers)
            assert missing.status_code == 401
            foreign = {**headers, "Authorization": f"Bearer {TOKEN}", "Host": "evil.example:80"}
            bad_host = await http.post(replica.url, json=body, headers=foreign)
            assert bad_host.status_code in (400, 421)


async def test_cancelling_through_the_balancer_kills_the_tree(
    stateless_pair: list[Replica],
) -> None:
    """A 2026-07-28 client cancels by aborting its POST: the replica that runs the call kills
    its tree, whichever replica the client's other requests went to."""
    pidfile = _pidfile_of(stateless_pair, "tree-balanced")
    async with balanced_client(stateless_pair) as (client, _):
        async with trio.open_nursery() as nursery:

            async def call() -> None:
                await client.call_tool("execute_llm", {"model": "tree-balanced", "prompt": "x"})

            nursery.start_soon(call)
            pids = await wait_for_pids(pidfile, 2)
            nursery.cancel_scope.cancel()
        await wait_gone(pids)


async def test_a_stateless_client_that_vanishes_has_its_tree_killed(
    stateless_pair: list[Replica],
) -> None:
    """A handshake-era client SIGKILLed mid-call on a --stateless server: the dropped
    connection cancels the call and its tree dies (no session to keep it for)."""
    model = "tree-vanished"
    pidfile = _pidfile_of(stateless_pair, model)
    caller = await trio.lowlevel.open_process(
        [sys.executable, MCP_HTTP_CALL, stateless_pair[0].url, TOKEN, "legacy", model, "x"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    try:
        pids = await wait_for_pids(pidfile, 2)
    finally:
        caller.kill()
        await caller.wait()
    await wait_gone(pids)


def test_stateless_over_stdio_is_refused(tmp_path: Path) -> None:
    """--stateless is an HTTP option: with stdio it is one clear line and exit 2."""
    config, _ = tree_config(tmp_path)
    done = subprocess.run(
        serve_argv(config, "--stateless"), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.startswith("llminst serve: invalid_input: --stateless")
    assert "--transport http" in done.stderr


async def test_the_health_probe_answers_without_a_token(stateless_pair: list[Replica]) -> None:
    """GET /healthz is 200 without a token (load balancer and Kubernetes probes carry none);
    everything else still needs it."""
    replica = stateless_pair[0]
    async with httpx2.AsyncClient(timeout=60) as http:
        health = f"http://127.0.0.1:{replica.port}/healthz"
        probed = await http.get(health)
        head = await http.head(health)
        posted = await http.post(health, json={})
        mcp_get = await http.get(replica.url)
    assert probed.status_code == 200 and probed.json() == {"status": "ok"}
    assert head.status_code == 200 and head.content == b""
    assert posted.status_code == 401 and mcp_get.status_code == 401
