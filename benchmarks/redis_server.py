"""A `redis-server` of the harness's own on 127.0.0.1 (a free port, no persistence, its files
in the run's scratch folder), for the rows that record calls in a Redis store.

What it must never do: bind anything but loopback, or outlive the section that started it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from .common import free_port

__all__ = ["open_redis_server", "redis_server_binary"]


def redis_server_binary() -> str | None:
    """``$LLMINST_REDIS_SERVER``, else ``redis-server`` on PATH, else None."""
    return os.environ.get("LLMINST_REDIS_SERVER") or shutil.which("redis-server")


@asynccontextmanager
async def open_redis_server(scratch: Path) -> AsyncIterator[str]:
    """Start redis-server on a free loopback port; yields its ``redis://`` URL.

    Raises:
        RuntimeError: no redis-server, or it did not answer within 30 s.
    """
    binary = redis_server_binary()
    if binary is None:
        raise RuntimeError("no redis-server (Debian: apt-get install redis-server)")
    await trio.Path(scratch).mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(scratch)]
    argv += ["--save", "", "--appendonly", "no", "--logfile", str(scratch / "redis.log")]
    proc = await trio.lowlevel.open_process(argv, stdin=subprocess.DEVNULL)
    try:
        with trio.fail_after(30):
            while True:
                try:
                    stream = await trio.open_tcp_stream("127.0.0.1", port)
                    await stream.aclose()
                    break
                except OSError:
                    if proc.poll() is not None:
                        raise RuntimeError("redis-server exited at start") from None
                    await trio.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        with trio.CancelScope(shield=True):
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                with trio.move_on_after(10):
                    await proc.wait()
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
