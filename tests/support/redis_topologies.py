"""Real Redis Sentinel and Redis Cluster set-ups on 127.0.0.1 for the tests, built from
`support.redis.RedisServer` processes.

`SentinelSet`: a primary, one replica and one sentinel (quorum 1, a primary is "down" after
1 s without answers), so killing the primary promotes the replica. `ClusterSet`: three
cluster nodes, no replicas, the 16384 slots spread by ``redis-cli --cluster create``.
Each is a context manager; leaving it stops every process it started.

What it must never do: leave a process running after its test, or wait without a bound
(every wait polls against a generous deadline and then fails with the servers' state).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from .redis import RedisServer, redis_server_binary
from .redis_tls import TlsFiles
from .serve import free_port

__all__ = ["SERVICE", "ClusterSet", "SentinelSet", "redis_cli"]

SERVICE = "llminst-primary"
_SETTLE_TIMEOUT_S = 90.0  # generous: a loaded 2-core machine; a healthy set settles in seconds


def redis_cli(port: int, *args: str) -> str:
    """`redis-cli -p PORT ARGS...`'s output (a clear failure when the program is missing)."""
    program = shutil.which("redis-cli")
    assert program, "redis-cli not found: install Debian's redis-tools (`.ci/run` does)"
    done = subprocess.run(
        [program, "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    return done.stdout + done.stderr


def wait_for(check: str, probe: object, *, timeout: float = _SETTLE_TIMEOUT_S) -> None:
    """Poll `probe()` (truthy: done) every 0.1 s, failing with `check` after `timeout`."""
    assert callable(probe)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.1)
    raise AssertionError(f"{check}: not reached within {timeout:.0f} s")


class SentinelProcess(RedisServer):
    """One `redis-server --sentinel` watching `primary_port` as `SERVICE` (quorum 1)."""

    def __init__(
        self,
        workdir: Path,
        primary_port: int,
        data_password: str | None,
        tls: TlsFiles | None = None,
    ) -> None:
        super().__init__(workdir)
        self.primary_port = primary_port
        self.data_password = data_password
        self.tls = tls
        self.tls_port = free_port() if tls else None

    def argv(self) -> list[str]:
        config = self.workdir / "sentinel.conf"  # sentinel rewrites its file: one of its own
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.workdir}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary_port} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
            + (f"sentinel auth-pass {SERVICE} {self.data_password}\n" if self.data_password else "")
        )
        tls_args: tuple[str, ...] = ()
        if self.tls and self.tls_port:  # TLS to clients and to the data servers it watches
            tls_args = self.tls.server_args(self.tls_port, auth_clients="optional")
            tls_args += ("--tls-replication", "yes")
        return [redis_server_binary(), str(config), "--sentinel", *tls_args]


class SentinelSet:
    """A primary, a replica of it and a sentinel; `url` is the ``redis+sentinel://`` form.
    With `password`, the primary and the replica require it (the sentinel does not).

    With `tls`, each also has a TLS port: the replica replicates and the sentinel watches
    over TLS (so the sentinel names the primary's TLS port), and `url` is the
    ``rediss+sentinel://`` form on the sentinel's TLS port, trusting the test's CA."""

    def __init__(
        self, workdir: Path, *, password: str | None = None, tls: TlsFiles | None = None
    ) -> None:
        self.password = password
        self.tls = tls
        self.primary = RedisServer(workdir / "primary", password=password)
        self.replica = RedisServer(workdir / "replica", password=password)
        self.tls_ports = {self.primary: free_port(), self.replica: free_port()} if tls else {}
        self.replica.extra = ("--replicaof", "127.0.0.1", str(self._data_port(self.primary)))
        if password:  # each may become the other's replica after a failover
            for server in (self.primary, self.replica):
                server.extra += ("--masterauth", password)
        if tls:
            for server, port in self.tls_ports.items():
                server.extra += tls.server_args(port, auth_clients="optional")
                server.extra += ("--tls-replication", "yes")
        self.sentinel = SentinelProcess(
            workdir / "sentinel", self._data_port(self.primary), password, tls
        )

    def _data_port(self, server: RedisServer) -> int:
        """The port replication and the sentinel use: the TLS one with `tls`."""
        return self.tls_ports.get(server, server.port)

    @property
    def url(self) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        if self.tls:
            where = f"127.0.0.1:{self.sentinel.tls_port}/{SERVICE}/0"
            return f"rediss+sentinel://{auth}{where}?{self.tls.query()}"
        return f"redis+sentinel://{auth}127.0.0.1:{self.sentinel.port}/{SERVICE}/0"

    def cli(self, port: int, *args: str) -> str:
        """`redis_cli` on a data server of this set (with its password)."""
        return redis_cli(
            port, *(("--no-auth-warning", "-a", self.password) if self.password else ()), *args
        )

    def primary_port(self) -> int:
        """The port the sentinel names as the primary now."""
        reply = redis_cli(self.sentinel.port, "SENTINEL", "get-master-addr-by-name", SERVICE)
        lines = reply.split()
        return int(lines[1]) if len(lines) == 2 and lines[1].isdigit() else -1

    def start(self) -> SentinelSet:
        try:
            self.primary.start()
            self.replica.start()
            wait_for("the replica in sync", self._replica_synced)
            self.sentinel.start()
            wait_for("the sentinel knowing the replica", self._sentinel_sees_replica)
        except BaseException:
            self.stop()
            raise
        return self

    def _replica_synced(self) -> bool:
        return "master_link_status:up" in self.cli(self.replica.port, "INFO", "replication")

    def _sentinel_sees_replica(self) -> bool:
        reply = redis_cli(self.sentinel.port, "SENTINEL", "replicas", SERVICE)
        return f"{self._data_port(self.replica)}" in reply and "s_down" not in reply

    def stop(self) -> None:
        for server in (self.sentinel, self.replica, self.primary):
            server.stop()

    def __enter__(self) -> SentinelSet:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ClusterSet:
    """Three Redis Cluster nodes holding every slot; `url` is the ``redis+cluster://`` form.

    With `tls`, each node also has a TLS port and the cluster bus speaks TLS; `url` is then the
    ``rediss+cluster://`` form on the TLS ports, trusting the test's CA (the plain ports stay
    for `redis_cli` and the readiness checks)."""

    def __init__(self, workdir: Path, *, nodes: int = 3, tls: TlsFiles | None = None) -> None:
        self.nodes = [RedisServer(workdir / f"node{index}") for index in range(nodes)]
        self.tls = tls
        self.tls_ports = [free_port() for _ in self.nodes] if tls else []
        for index, node in enumerate(self.nodes):
            node.extra = (
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(node.workdir / "nodes.conf"),
                "--cluster-port", str(free_port()),  # not PORT+10000, which may be taken
                "--cluster-node-timeout", "5000",
            )  # fmt: skip
            if tls:
                node.extra += tls.server_args(self.tls_ports[index], auth_clients="optional")
                node.extra += ("--tls-cluster", "yes")

    @property
    def url(self) -> str:
        if self.tls:
            nodes = ",".join(f"127.0.0.1:{port}" for port in self.tls_ports)
            return f"rediss+cluster://{nodes}?{self.tls.query()}"
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    def start(self) -> ClusterSet:
        try:
            for node in self.nodes:
                node.start()
            created = redis_cli(
                self.nodes[0].port,
                "--cluster", "create",
                *(f"127.0.0.1:{node.port}" for node in self.nodes),
                "--cluster-replicas", "0", "--cluster-yes",
            )  # fmt: skip
            assert "All 16384 slots covered" in created, created[-2000:]
            wait_for("every node seeing cluster_state:ok", self._all_ok)
            # "ok" can come before every node has learnt the others' slots (a loaded machine):
            # a client that asks such a node first is sent to a node that does not own them.
            wait_for("every node giving the same slot map", self._slots_agree)
        except BaseException:
            self.stop()
            raise
        return self

    def _all_ok(self) -> bool:
        return all(
            "cluster_state:ok" in redis_cli(node.port, "CLUSTER", "INFO") for node in self.nodes
        )

    def _slots_agree(self) -> bool:
        maps = {redis_cli(node.port, "CLUSTER", "SLOTS") for node in self.nodes}
        return len(maps) == 1

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> ClusterSet:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
