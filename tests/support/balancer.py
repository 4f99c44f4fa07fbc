"""Several real `llminst serve --transport http` replicas for tests, and the test as their load
balancer.

- `open_replicas(tmp_path, config, count, *extra)`: `count` servers on free ports, each started
  with ``--transport http --token TOKEN`` and `extra` (e.g. ``--stateless``, ``--store URL``),
  listening before it is yielded; each is stopped (SIGTERM, then SIGKILL) and reaped at the end.
  A replica's stderr goes to ``replica-N.log`` in `tmp_path`, shown when a test fails.
- `RoundRobin`: an httpx transport that sends each request to the next replica in turn, so one
  SDK client talks to all of them as through a load balancer without sticky sessions.
- `client_of(url)` / `balanced_client(replicas)`: the SDK's MCP client on one replica, or on
  all of them in turn.
- `wait_gone(pids)`: wait until a call's tree is gone (zombies count as gone).
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import attrs
import httpx2
import trio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from .procs import is_alive, stop_server
from .serve import TOKEN, authorized, free_port, serve_argv

__all__ = [
    "Replica",
    "RoundRobin",
    "balanced_client",
    "client_of",
    "open_replicas",
    "wait_gone",
]


@attrs.frozen
class Replica:
    """One running `llminst serve` replica."""

    name: str
    port: int
    proc: trio.Process
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"


class RoundRobin(httpx2.AsyncBaseTransport):
    """Send each request to the next port in turn (the test playing the load balancer).

    Attributes:
        sent: (port, method) of every request, in order, so a test can check each replica
            answered some of them.
    """

    def __init__(self, ports: Sequence[int]) -> None:
        self._ports = itertools.cycle(ports)
        self._inner = httpx2.AsyncHTTPTransport()
        self.sent: list[tuple[int, str]] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = next(self._ports)
        self.sent.append((port, request.method))
        request.url = request.url.copy_with(port=port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _wait_listening(replica: Replica) -> None:
    with trio.fail_after(60):  # a loaded 2-core machine takes seconds to import the SDK
        while True:
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", replica.port)
            except OSError:
                if replica.proc.poll() is not None:
                    raise AssertionError(
                        f"{replica.name} exited early:\n{replica.log.read_text()}"
                    ) from None
                await trio.sleep(0.05)
            else:
                await stream.aclose()
                return


@asynccontextmanager
async def open_replicas(
    tmp_path: Path,
    config: Path,
    count: int,
    *extra: str,
    envs: Sequence[Mapping[str, str]] = (),
) -> AsyncIterator[list[Replica]]:
    """Start `count` HTTP replicas of `llminst serve` over `config` (replica N with `envs`[N]
    added to its environment, if given); stop and reap them after."""
    replicas: list[Replica] = []
    try:
        for index in range(count):
            name = "ABCDEFGH"[index] if index < 8 else f"R{index}"
            log = tmp_path / f"replica-{name}.log"
            port = free_port()
            argv = serve_argv(
                config, "--transport", "http", "--port", str(port), "--token", TOKEN, *extra
            )
            with log.open("wb") as stderr:
                proc = await trio.lowlevel.open_process(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    cwd=tmp_path,  # anything a replica writes by a relative path stays there
                    env={**os.environ, **envs[index]} if index < len(envs) else None,
                )
            replicas.append(Replica(name, port, proc, log))
        for replica in replicas:
            await _wait_listening(replica)
        yield replicas
    finally:
        with trio.CancelScope(shield=True):
            for replica in replicas:
                await stop_server(replica.proc)


@asynccontextmanager
async def client_of(url: str, *, mode: str = "2026-07-28") -> AsyncIterator[Client]:
    """The SDK's client on one replica (a pinned protocol version by default: ``auto`` falls
    back to the legacy handshake when its probe is slow)."""
    async with (
        authorized() as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client


@asynccontextmanager
async def balanced_client(
    replicas: Sequence[Replica], *, mode: str = "2026-07-28"
) -> AsyncIterator[tuple[Client, RoundRobin]]:
    """The SDK's client whose requests go to each replica in turn; yields it and the balancer."""
    balancer = RoundRobin([r.port for r in replicas])
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            httpx2.AsyncClient(
                transport=balancer,
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=httpx2.Timeout(30, read=300),
            )
        )
        client = await stack.enter_async_context(
            Client(streamable_http_client(replicas[0].url, http_client=http), mode=mode)
        )
        yield client, balancer


async def wait_gone(pids: Sequence[int], *, within_s: float = 30.0) -> None:
    """Wait until none of `pids` is alive; fail naming those still alive after `within_s`."""
    with trio.move_on_after(within_s):
        while any(is_alive(pid) for pid in pids):  # noqa: ASYNC110 - /proc has no event
            await trio.sleep(0.05)
    assert not [pid for pid in pids if is_alive(pid)], "the call's tree is still alive"
