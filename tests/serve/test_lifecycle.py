"""Nothing left behind (issue 5): a real `llminst serve` under dropped connections and signals.

Every test runs the server as a subprocess and talks to it with the SDK's client. A process
tree is "gone" when none of the processes the helper CLI recorded is still there in any state
(running, exiting or a zombie: the server must have reaped it) and no live process carries the
test's command-line marker. Measured times are printed (`pytest -s`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import httpx2
import pytest
import trio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from ..support.config import write_config
from ..support.mcp_pipes import process_transport
from ..support.paths import FAKECLI, MCP_HTTP_CALL
from ..support.procs import (
    fd_count,
    fd_targets,
    read_pids,
    start_times,
    stop_server,
    tree_leftovers,
    wait_for_pids,
)
from ..support.serve import TOKEN, authorized, free_port, serve_argv
from ..support.tools import text_of

GRACE = 0.3  # SIGTERM -> SIGKILL for the `stubborn` CLI, which ignores SIGTERM
# A pinned version: the client's mode="auto" falls back to the legacy handshake if its probe is slow.
MODERN = "2026-07-28"

# Hanging CLIs: model name -> (helper CLI arguments, PIDs it records once running).
HANGING = {
    "hang": (("hang",), 1),
    "tree": (("hang-tree",), 2),  # a grandchild in the CLI's process group
    "stubborn": (("ignore-term",), 1),
    "escapee": (("setsid-child",), 2),  # a grandchild that left the group with setsid
    "orphan": (("double-fork",), 2),  # a setsid grandchild whose parent exited at once
}


def hanging_config(tmp_path: Path, marker: str) -> tuple[Path, Path]:
    """A config serving the HANGING models (they record PIDs and carry `marker`), short grace."""
    pidfile = tmp_path / "pids"
    env = {"FAKECLI_PIDFILE": str(pidfile), "FAKECLI_MARKER": marker}
    models = {
        name: {
            "command": [sys.executable, FAKECLI, *args, marker],
            "env": env,
            "max_concurrency": 64,
        }
        for name, (args, _) in HANGING.items()
    }
    config = write_config(
        tmp_path / "llminst.toml", models=models, settings={"grace_period_s": GRACE}
    )
    return config, pidfile


# --------------------------------------------------------------------------------------------
# The server process and its descriptors


def _tcp_states() -> dict[str, str]:
    """Socket inode -> TCP state (hex, as in /proc/net/tcp) for every TCP socket on the host."""
    states = {}
    for table in ("tcp", "tcp6"):
        try:
            rows = Path(f"/proc/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            states[fields[9]] = fields[3]
    return states


def _listening(port: int) -> bool:
    suffix = f":{port:04X}"
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = row.split()
            if fields[1].endswith(suffix) and fields[3] == "0A":
                return True
    return False


def own_fd_count(pid: int) -> int:
    """The server's descriptors, less its connections whose peer already closed (CLOSE_WAIT).

    hypercorn's trio worker keeps a closed connection's socket until its keep-alive timer
    ends (5 s), so right after a client leaves, those sockets are still counted; they are
    not the server's own. The final checks compare the full count with this baseline.
    """
    states = _tcp_states()
    closing = 0
    for target in fd_targets(pid):
        if target.startswith("socket:[") and states.get(target[8:-1]) == "08":
            closing += 1
    return fd_count(pid) - closing


async def wait_for_fds(pid: int, expected: int, *, within_s: float = 10.0) -> float:
    """Wait (bounded) until the server holds `expected` descriptors; returns the time it took."""
    start = trio.current_time()
    with trio.move_on_after(within_s):
        while fd_count(pid) != expected:  # noqa: ASYNC110 - another process's state
            await trio.sleep(0.02)
    assert fd_count(pid) == expected, fd_targets(pid)
    return trio.current_time() - start


async def wait_gone(started: dict[int, int], marker: str, *, within_s: float) -> float:
    """Wait (bounded) until no process of the trees is left; returns the time it took."""
    start = trio.current_time()
    with trio.move_on_after(within_s):
        while tree_leftovers(started, marker):  # noqa: ASYNC110 - other processes' state
            await trio.sleep(0.005)
    elapsed = trio.current_time() - start
    left = tree_leftovers(started, marker)
    assert not left, f"left after {elapsed:.3f} s: {left}"
    return elapsed


@asynccontextmanager
async def serving(config: Path, transport: str) -> AsyncIterator[tuple[trio.Process, str]]:
    """Start `llminst serve` (stdio: pipes; http: a bearer token); yields it and its URL."""
    port = free_port()
    if transport == "http":
        argv = serve_argv(config, "--transport", "http", "--port", str(port), "--token", TOKEN)
        proc = await trio.lowlevel.open_process(argv, stdin=subprocess.DEVNULL)
    else:
        proc = await trio.lowlevel.open_process(
            serve_argv(config), stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
    try:
        if transport == "http":
            # Watch for the listening socket rather than connecting: a probe connection
            # would linger in the server (see own_fd_count).
            with trio.fail_after(20):
                while not _listening(port):
                    assert proc.poll() is None, "the server exited early"
                    await trio.sleep(0.05)
        yield proc, f"http://127.0.0.1:{port}/mcp"
    finally:
        await stop_server(proc, grace_s=10)
        with trio.CancelScope(shield=True):
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    await pipe.aclose()


def http_client(url: str, http: httpx2.AsyncClient, mode: str = MODERN, **kwargs: bool) -> Client:
    return Client(streamable_http_client(url, http_client=http, **kwargs), mode=mode)


# --------------------------------------------------------------------------------------------
# 1. An HTTP client vanishes mid-call


def shut_down_connections_to(port: int) -> int:
    """Shut down this process's TCP connections to `port` under its HTTP client's feet."""
    dropped = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            fd = os.dup(int(name))
        except OSError:
            continue
        try:
            sock = socket.socket(fileno=fd)
        except OSError:
            os.close(fd)
            continue
        with sock:
            try:
                if sock.family in (socket.AF_INET, socket.AF_INET6) and (
                    sock.getpeername()[1] == port
                ):
                    sock.shutdown(socket.SHUT_RDWR)  # acts on the connection, not just this fd
                    dropped += 1
            except OSError:
                continue
    return dropped


_DROPS = [(MODERN, "socket"), (MODERN, "kill"), ("legacy", "socket"), ("legacy", "kill")]


@attrs.frozen
class _DropServer:
    """The HTTP server the dropped-connection cases share: a `tree` model, a PID file and a
    marker per case (`mode`-`drop`)."""

    proc: subprocess.Popen[bytes]
    url: str
    folder: Path
    markers: dict[str, str]

    def marker_pidfile_model(self, case: str) -> tuple[str, Path, str]:
        return self.markers[case], self.folder / f"pids-{case}", f"tree-{case}"


@pytest.fixture(scope="module")
def drop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_DropServer]:
    """One ``llminst serve --transport http --token TOKEN`` for the dropped-connection cases
    (a server's start costs seconds of CPU on a loaded machine)."""
    folder = tmp_path_factory.mktemp("drop-server")
    markers = {f"{mode}-{drop}": f"lifecycle-{uuid.uuid4().hex}" for mode, drop in _DROPS}
    models = {
        f"tree-{case}": {
            "command": [sys.executable, FAKECLI, "hang-tree", marker],
            "env": {"FAKECLI_PIDFILE": str(folder / f"pids-{case}"), "FAKECLI_MARKER": marker},
        }
        for case, marker in markers.items()
    }
    config = write_config(
        folder / "llminst.toml", models=models, settings={"grace_period_s": GRACE}
    )
    port = free_port()
    argv = serve_argv(config, "--transport", "http", "--port", str(port), "--token", TOKEN)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    try:
        # The listening socket, not a probe connection (it would linger: see own_fd_count).
        deadline = time.monotonic() + 60
        while not _listening(port):
            assert proc.poll() is None and time.monotonic() < deadline, "the server did not listen"
            time.sleep(0.05)
        yield _DropServer(proc, f"http://127.0.0.1:{port}/mcp", folder, markers)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    ("mode", "drop"),
    _DROPS,
    ids=[
        "2026-socket-shutdown",
        "2026-client-killed",
        "legacy-socket-shutdown",
        "legacy-client-killed",
    ],
)
async def test_http_connection_dropped_mid_call_kills_the_tree(
    drop_server: _DropServer, mode: str, drop: str
) -> None:
    """A client whose connection drops mid-call: its tree is gone within 1 s, the server serves on."""
    case = f"{mode}-{drop}"
    marker, pidfile, model = drop_server.marker_pidfile_model(case)
    server, url = drop_server.proc, drop_server.url
    port = int(url.split(":")[2].split("/")[0])
    async with authorized() as http, http_client(url, http, mode) as client:
        warm = await client.call_tool("execute_llm", {"model": "echo", "prompt": "warm"})
        assert text_of(warm) == "warm"
    baseline = own_fd_count(server.pid)

    if drop == "kill":
        # A client process killed mid-call while the response streams progress to it:
        # the kernel closes its sockets; no DELETE, no cancellation, no MCP shutdown.
        caller = await trio.lowlevel.open_process(
            [sys.executable, MCP_HTTP_CALL, url, TOKEN, mode, model, "x"],
            stdout=subprocess.PIPE,
        )
        assert caller.stdout is not None
        try:
            started = start_times(await wait_for_pids(pidfile, 2, within_s=20))
            with trio.fail_after(20):  # the CLI's first line reached the client
                seen = b""
                while b"progress\n" not in seen:
                    data = await caller.stdout.receive_some()
                    assert data, "the client exited before the call streamed"
                    seen += data
            caller.kill()
            dropped_at = trio.current_time()
            await caller.wait()
        finally:
            with trio.CancelScope(shield=True):
                if caller.returncode is None:
                    caller.kill()
                    await caller.wait()
                await caller.stdout.aclose()
        assert caller.returncode == -signal.SIGKILL
    else:
        # This process's own sockets are shut down under the SDK client mid-call, before
        # any response headers (no progress token); no DELETE, no cancellation.
        errors: list[Exception] = []
        async with trio.open_nursery() as nursery:

            async def call() -> None:
                try:
                    async with (
                        authorized() as http,
                        http_client(url, http, mode, terminate_on_close=False) as client,
                    ):
                        await client.call_tool("execute_llm", {"model": model, "prompt": "x"})
                except Exception as exc:  # the connection drops under the call
                    errors.append(exc)

            nursery.start_soon(call)
            started = start_times(await wait_for_pids(pidfile, 2, within_s=20))
            assert shut_down_connections_to(port) >= 1
            dropped_at = trio.current_time()
        assert errors, "the client should see its connection fail"

    await wait_gone(started, marker, within_s=5)
    cleanup = trio.current_time() - dropped_at
    print(f"HTTP drop [{mode}, {drop}]: drop to tree gone {cleanup:.3f} s")
    assert cleanup < 1.0, f"the tree outlived the drop by {cleanup:.3f} s"

    async with authorized() as http, http_client(url, http, mode) as client:
        after = await client.call_tool("execute_llm", {"model": "echo", "prompt": "still here"})
    assert text_of(after) == "still here"
    settled = await wait_for_fds(server.pid, baseline)
    print(
        f"HTTP drop [{mode}, {drop}]: server fds {baseline} -> {fd_count(server.pid)} "
        f"in {settled:.2f} s"
    )


# --------------------------------------------------------------------------------------------
# 2. SIGTERM and SIGINT with 50 calls running

CALLS = 50


@pytest.mark.parametrize("transport", ["stdio", "http"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_with_50_calls_running_leaves_nothing(
    tmp_path: Path, transport: str, sig: int
) -> None:
    """SIGTERM/SIGINT with 50 trees running: the server exits in seconds with status 128 + the
    signal, nothing left."""
    marker = f"lifecycle-{uuid.uuid4().hex}"
    config, pidfile = hanging_config(tmp_path, marker)
    models = [list(HANGING)[i % len(HANGING)] for i in range(CALLS)]
    expected_pids = sum(HANGING[m][1] for m in models)
    hanging: set[int] = set()  # calls whose CLI printed its first line

    async with serving(config, transport) as (server, url), trio.open_nursery() as nursery:

        async def call(client: Client, i: int) -> None:
            async def progress(_p: float, _t: float | None, message: str | None) -> None:
                if message:  # the CLI printed its first line: it is in place, hanging
                    hanging.add(i)

            arguments = {"model": models[i], "prompt": f"call {i}", "timeout": 120}
            with contextlib.suppress(Exception):  # the connection closes under the call
                await client.call_tool("execute_llm", arguments, progress_callback=progress)

        async def calls() -> None:
            async with trio.open_nursery() as calls:
                if transport == "http":
                    http = authorized()
                    async with http, http_client(url, http) as client:
                        for i in range(CALLS):
                            calls.start_soon(call, client, i)
                        await trio.sleep_forever()
                else:
                    async with Client(process_transport(server)) as client:
                        for i in range(CALLS):
                            calls.start_soon(call, client, i)
                        await trio.sleep_forever()

        nursery.start_soon(calls)
        await wait_for_pids(pidfile, expected_pids, within_s=40)
        with trio.fail_after(20):
            while len(hanging) < CALLS:  # noqa: ASYNC110 - filled by progress callbacks
                await trio.sleep(0.01)
        pids = read_pids(pidfile)
        started_at = start_times(pids)
        server.send_signal(sig)
        signalled_at = trio.current_time()
        with trio.fail_after(10):
            await server.wait()
        exited_after = trio.current_time() - signalled_at
        tree_check = await wait_gone(started_at, marker, within_s=1)
        nursery.cancel_scope.cancel()

    name = signal.Signals(sig).name
    print(
        f"{name} [{transport}] with {CALLS} calls ({len(pids)} processes): server exited "
        f"{exited_after:.3f} s after the signal with status {server.returncode}; trees gone "
        f"{tree_check:.3f} s after that"
    )
    assert server.returncode == 128 + sig, f"exit status {server.returncode}"
    assert exited_after < GRACE + 3.0
