"""Replicas on one real redis-server for the tests: a replica in a process of its own (`replica_process`),
and one in the test's own process (`local_replica`), each with its own store handle on one
shared SQLite file (the store's backend does not matter to these mechanisms)."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import coredis
import trio

from llminst.replicas import ReplicaLink, ReplicaSettings
from llminst.store.base import CallStore
from llminst.store.opening import open_store

from .paths import REPLICA, ROOT
from .procs import descendants

FAST = {"heartbeat_lease_s": 1.0, "heartbeat_every_s": 0.2, "sweep_every_s": 0.2}


_numbers = itertools.count()


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:]


@asynccontextmanager
async def replica_process(
    tmp_path: Path, config: dict[str, Any], *, script: str = REPLICA
) -> AsyncIterator[tuple[trio.Process, dict[str, str]]]:
    """A replica process started with `config` (see tests/support/replica.py, or `script`): the
    process and the line it printed. It is SIGKILLed (if still running) and reaped on leaving."""
    log_path = tmp_path / f"replica-{next(_numbers)}.stderr"
    log = log_path.open("wb")
    process = await trio.lowlevel.open_process(
        [sys.executable, script, json.dumps(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    try:
        assert process.stdout is not None
        line = b""
        with trio.fail_after(60):
            while not line.endswith(b"\n"):
                chunk = await process.stdout.receive_some(4096)
                assert chunk, f"the replica exited: {_tail(log_path)}"
                line += chunk
        yield process, json.loads(line)
    finally:
        if process.returncode is None:
            # Its CLIs too: a test that failed before ending them must leave nothing behind.
            for pid, _state in descendants(process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.send_signal(signal.SIGKILL)
        with trio.CancelScope(shield=True):
            await process.wait()
        log.close()


@asynccontextmanager
async def local_replica(
    redis_url: str, store_path: Path, writer: str, **settings: float
) -> AsyncIterator[tuple[ReplicaLink, CallStore]]:
    """A `ReplicaLink` for this process under `writer`, and a store handle of its own."""
    client = coredis.Redis.from_url(redis_url, decode_responses=True)
    async with client, open_store(store_path) as store:
        yield ReplicaLink(client, writer, ReplicaSettings(**{**FAST, **settings})), store
