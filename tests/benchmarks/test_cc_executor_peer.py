"""The cc_executor section of the benchmark harness (benchmarks/executors.py) and the real peer's
life (benchmarks/peers/cc_executor.py): skipped with a reason without the peer, refused when its
fixed Redis port is taken, and, opt-in with $LLMINST_CC_EXECUTOR, one call through the real
cc_executor returns the command's output and leaves no process behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# The peers' clients need the bench extra (websockets); the inspector and realcli environments
# install only the test extra and collect this file without running it.
pytest.importorskip("websockets", reason="needs the bench extra (tox -e py installs it)")

from benchmarks.common import Context
from benchmarks.executors import ONE_SHOT_ARGS
from benchmarks.executors import run as run_section
from benchmarks.peers import standin_executable
from benchmarks.peers.cc_executor import (
    ENV_VAR,
    REDIS_PORT,
    Unavailable,
    open_cc_executor,
)
from benchmarks.peers.ws_executor import ExecutorClient, claude_result_text
from benchmarks.report import readme_block
from benchmarks.standins import StandIn

from ..support.paths import ROOT

CONFIGURED = os.environ.get(ENV_VAR)


def _context(tmp_path: Path) -> Context:
    return Context(standin=StandIn(prefix=("true",), kind="none"), workdir=tmp_path, smoke=True)


def _env_without_peer() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != ENV_VAR}


def test_harness_skips_the_section_without_the_peer_and_says_how_to_enable_it(
    tmp_path: Path,
) -> None:
    """`python -m benchmarks --only cc_executor` without the peer: exit 0, a skip line, no error."""
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--only", "cc_executor", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=_env_without_peer(),
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    section = json.loads((out / "latest.json").read_text())["sections"]["cc_executor"]
    assert "error" not in section
    assert section["data"] == {
        "available": False,
        "reason": f"no cc_executor configured (--cc-executor PATH or ${ENV_VAR})",
    }
    markdown = (out / "latest.md").read_text()
    assert "skipped: no cc_executor configured" in markdown
    assert f"python -m benchmarks --cc-executor PATH` or set ${ENV_VAR}=PATH" in markdown


def test_section_skips_with_the_reason_when_the_path_holds_no_cc_executor(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "not-a-peer"
    empty.mkdir()
    result = run_section(_context(tmp_path), peer=str(empty))
    assert result["data"]["available"] is False
    assert result["tables"] == []
    assert "no src/cc_executor/core/main.py" in result["about"]
    assert str(empty) in result["about"]


@contextlib.contextmanager
def _port_held(port: int) -> Iterator[None]:
    """Something listens on 127.0.0.1:`port` (this test's socket, or whoever already does)."""
    with socket.socket() as probe:
        taken = probe.connect_ex(("127.0.0.1", port)) == 0
    if taken:
        yield
        return
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        yield


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")
def test_the_peer_is_refused_when_its_fixed_redis_port_is_taken(tmp_path: Path) -> None:
    """cc_executor reaches Redis only at 6379: a taken port is a clear refusal, never a shared
    Redis, and nothing is started."""
    tree = tmp_path / "tree"
    (tree / "src" / "cc_executor" / "core").mkdir(parents=True)
    (tree / "src" / "cc_executor" / "core" / "main.py").write_text("")
    with (
        _port_held(REDIS_PORT),
        pytest.raises(Unavailable, match=f"127.0.0.1:{REDIS_PORT} is taken"),
        open_cc_executor(tree, tmp_path),
    ):
        pytest.fail("the peer started although its Redis port was taken")
    assert not list(tmp_path.glob("cc_executor-*")), "a scratch folder means something started"


def test_readme_block_shows_the_real_peer_only_when_it_was_measured() -> None:
    latest = json.loads((ROOT / "benchmarks" / "results" / "latest.json").read_text())
    without = {k: v for k, v in latest["sections"].items() if k != "cc_executor"}
    skipped = {**latest, "sections": {**without, "cc_executor": {"data": {}}}}
    # A skipped section adds nothing (the committed results may hold a measured one).
    assert readme_block(skipped) == readme_block({**latest, "sections": without})
    assert "cc_executor (real)" not in readme_block(skipped)
    measured = {
        "title": "cc_executor (real) vs llminst",
        "tables": [
            {
                "columns": ["way", "per call p50 ms", "notes"],
                "rows": [["llminst API", 12.5, "n1"], ["cc_executor (real)", 452.0, "n2"]],
            }
        ],
        "data": {"available": True},
    }
    block = readme_block({**latest, "sections": {**latest["sections"], "cc_executor": measured}})
    assert "| way | per call p50 ms |\n|---|---|\n| llminst API | 12.5 |" in block
    assert "| cc_executor (real) | 452 |" in block
    assert "n2" not in block


async def _one_call(url: str, command: str) -> list[str]:
    async with ExecutorClient.connect(url) as client:
        execution = await client.execute(command)
    assert execution.exit_code == 0, execution.stderr
    return execution.stdout


@pytest.mark.slow
@pytest.mark.skipif(
    not CONFIGURED,
    reason=f"opt-in: set ${ENV_VAR} to the cc_executor tree or its .tar.gz "
    "(../shared/peers/cc_executor-0a5e5b4.tar.gz) to run the real peer",
)
def test_one_call_through_the_real_cc_executor_returns_the_commands_output(
    tmp_path: Path,
) -> None:
    """The real server, its hooks and its Redis run one stand-in claude call; afterwards its
    server, its Redis and every process it started are gone and port 6379 is free again."""
    import asyncio

    from llminst.supervisor.procfs import is_alive

    assert CONFIGURED is not None
    claude = standin_executable(tmp_path)
    prompt = "one call through cc_executor"
    command = shlex.join([str(claude), *ONE_SHOT_ARGS, "--", prompt])
    with open_cc_executor(CONFIGURED, tmp_path) as peer:
        stdout = asyncio.run(_one_call(peer.url, command))
        pids = (peer.server_pid, peer.redis_pid)
    assert claude_result_text(stdout) == f"Echo: {prompt}"
    assert peer.leftovers == []
    assert not [pid for pid in pids if is_alive(pid)]
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", REDIS_PORT)) != 0


async def _calls_for(url: str, command: str, seconds: float) -> int:
    """Calls one after another on one connection for `seconds`; how many answered."""
    answered = 0
    async with ExecutorClient.connect(url) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            execution = await client.execute(command)
            assert execution.exit_code == 0, execution.stderr
            answered += 1
    return answered


@pytest.mark.slow
@pytest.mark.skipif(not CONFIGURED, reason=f"opt-in: set ${ENV_VAR} (see above)")
def test_a_kept_connection_answers_the_real_cc_executors_heartbeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cc_executor sends a JSON-RPC `ping` every WEBSOCKET_HEARTBEAT_INTERVAL seconds and closes
    a session without a `pong` for two intervals (the benchmark's kept connection was cut after
    90 s); with a 1-s interval, 5 s of calls on one connection all answer."""
    import asyncio

    assert CONFIGURED is not None
    monkeypatch.setenv("WEBSOCKET_HEARTBEAT_INTERVAL", "1")
    with open_cc_executor(CONFIGURED, tmp_path) as peer:
        answered = asyncio.run(_calls_for(peer.url, "echo hello", 5.0))
    assert answered >= 2
    assert peer.leftovers == []
