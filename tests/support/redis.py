"""A real `redis-server` on 127.0.0.1 for the tests: started, stopped, restarted and killed.

`RedisServer` owns one server process on a port of its own, with no persistence (nothing is
written to disk unless a test asks for it with `appendonly=True`) and its working directory in
a temporary folder. `redis_server_binary` finds the program: `$LLMINST_REDIS_SERVER`, else
`redis-server` on PATH (`.ci/run` installs Debian's package).

What it must never do: bind anything but loopback, leave a server running after its test, or
skip silently when the program is missing (CI installs it; a missing binary is a clear failure).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from .serve import free_port

__all__ = ["RedisServer", "redis_server_binary"]

_START_TIMEOUT_S = 30.0  # generous: a loaded 2-core machine can be slow to exec and bind


def redis_server_binary() -> str:
    """The `redis-server` to run, or an AssertionError that says how to get one."""
    configured = os.environ.get("LLMINST_REDIS_SERVER")
    found = configured or shutil.which("redis-server")
    assert found, (
        "redis-server not found: install Debian's package (`apt-get install redis-server`, which "
        ".ci/run does) or point LLMINST_REDIS_SERVER at the program"
    )
    return found


class RedisServer:
    """One `redis-server` process on 127.0.0.1:`port`; `url` is what `--store` takes."""

    def __init__(
        self,
        workdir: Path,
        *,
        appendonly: bool = False,
        password: str | None = None,
        extra: Sequence[str] = (),
    ):
        """`extra`: more ``--option value`` arguments (a replica's, a cluster node's)."""
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.appendonly = appendonly
        self.password = password
        self.extra = tuple(extra)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> RedisServer:
        log = (self.workdir / "redis.log").open("ab")
        self._process = subprocess.Popen(
            self.argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        self._wait_until_ready()
        return self

    def argv(self) -> list[str]:
        """The server's command line."""
        argv = [
            redis_server_binary(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.workdir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--protected-mode", "yes",
        ]  # fmt: skip
        if self.password:
            argv += ["--requirepass", self.password]
        return argv + list(self.extra)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                log = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                raise AssertionError(f"redis-server exited at start: {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    reply = conn.recv(64)
                if reply.startswith((b"+PONG", b"-NOAUTH")):
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError(f"redis-server did not answer on port {self.port} within 30 s")

    def stop(self) -> None:
        """SIGTERM and wait (Redis exits cleanly); a no-op when not running."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def kill(self) -> None:
        """SIGKILL: the server vanishes as if its machine died."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None

    def restart(self) -> None:
        """Stop and start again on the same port (state kept only with `appendonly=True`)."""
        self.stop()
        self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
