"""Several real `llminst serve --transport http` replicas for tests, and the test as their load
balancer.

- `open_replicas(tmp_path, config, count, *extra)`: `count` servers on free ports, each started
  with ``--transport http --token TOKEN`` and `extra` (e.g. ``--stateless``, ``--store URL``),
  listening before it is yielded; each is stopped (SIGTERM, then SIGKILL) and reaped at the end.
  A replica's stderr goes to ``replica-N.log`` in `tmp_path`, shown when a test fails.
- `running_replicas(...)`: the same outside trio, for a module-scoped fixture (pytest-trio's
  fixtures are per test): several tests share one set of replicas instead of each starting three.
- `RoundRobin`: an httpx transport that sends each request to the next replica in turn, so one
  SDK client talks to all of them as through a load balancer without sticky sessions.
- `client_of(url)` / `balanced_client(replicas)`: the SDK's MCP client on one replica, or on
  all of them in turn.
- `wait_gone(pids)`: wait until a call's tree is gone (zombies count as gone).
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
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
    "running_replicas",
    "wait_gone",
]

_LISTEN_TIMEOUT_S = 60.0  # a loaded 2-core machine takes seconds to import the SDK


@attrs.frozen
class Replica:
    """One running `llminst serve` replica."""

    name: str
    port: int
    proc: trio.Process | subprocess.Popen[bytes]  # a Popen from `running_replicas`
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
    with trio.fail_after(_LISTEN_TIMEOUT_S):
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
            name, log, port, argv = _replica_launch(tmp_path, config, index, extra)
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
        # All at once: each replica's shutdown is mostly waiting, and one after another
        # they added up to seconds per test.
        with trio.CancelScope(shield=True):
            async with trio.open_nursery() as nursery:
                for replica in replicas:
                    assert isinstance(replica.proc, trio.Process)
                    nursery.start_soon(stop_server, replica.proc)


def _replica_launch(
    folder: Path, config: Path, index: int, extra: Sequence[str]
) -> tuple[str, Path, int, list[str]]:
    """The `index`th replica's name, log file, port and command line."""
    name = "ABCDEFGH"[index] if index < 8 else f"R{index}"
    port = free_port()
    argv = serve_argv(config, "--transport", "http", "--port", str(port), "--token", TOKEN, *extra)
    return name, folder / f"replica-{name}.log", port, argv


@contextmanager
def running_replicas(
    folder: Path, config: Path, count: int, *extra: str
) -> Iterator[list[Replica]]:
    """`open_replicas` for code outside trio (a module-scoped fixture): `count` replicas
    listening, then each stopped (SIGTERM, SIGKILL after 5 s) and reaped."""
    replicas: list[Replica] = []
    try:
        for index in range(count):
            name, log, port, argv = _replica_launch(folder, config, index, extra)
            with log.open("wb") as stderr:
                proc = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                    cwd=folder,
                )  # fmt: skip
            replicas.append(Replica(name, port, proc, log))
        for replica in replicas:
            _wait_listening_sync(replica)
        yield replicas
    finally:
        _stop_all_sync([replica.proc for replica in replicas])


def _wait_listening_sync(replica: Replica) -> None:
    deadline = time.monotonic() + _LISTEN_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", replica.port), timeout=5).close()
            return
        except OSError:
            if replica.proc.poll() is not None:
                raise AssertionError(
                    f"{replica.name} exited early:\n{replica.log.read_text()}"
                ) from None
            time.sleep(0.05)
    raise AssertionError(f"{replica.name} did not listen within {_LISTEN_TIMEOUT_S:.0f} s")


def _stop_all_sync(procs: Sequence[trio.Process | subprocess.Popen[bytes]]) -> None:
    """SIGTERM every one at once, SIGKILL those still running 5 s later, reap them all."""
    running = [p for p in procs if isinstance(p, subprocess.Popen) and p.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 5.0
    for proc in running:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
