"""`llminst status` and `llminst top` say when their Redis store does not answer, and stop
saying it once it does again (the degraded flag ``get_llm_status`` carries as
``store_degraded``).

Each runs against a real redis-server the test stops and starts again: `status` as a real
command (one run per state), `top` live on a real pseudo-terminal read through pyte, over a
call a real `llminst run` recorded in that Redis.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import trio

from ..support.config import write_config
from ..support.monitor import Terminal
from ..support.paths import LLMINST
from ..support.redis import RedisServer


def status(url: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LLMINST, "status", "--store", url],
        env={**os.environ, "LLMINST_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_status_shows_the_store_degraded_while_redis_is_down_and_ok_once_it_is_back(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Up: ``store: URL ok``. Stopped: the models still listed, ``store degraded:`` naming the
    server and the error, exit 0. Started again: ok, and no degraded line."""
    config = write_config(tmp_path / "llminst.toml", models={"vendor": {"command": ["no-cli"]}})
    shown = f"redis://127.0.0.1:{redis_server.port}/0"
    up = status(redis_server.url, config)
    assert up.returncode == 0, up.stderr
    assert f"store: {shown} ok" in up.stdout.splitlines()
    assert "degraded" not in up.stdout

    redis_server.stop()
    down = status(redis_server.url, config)
    assert down.returncode == 0, down.stderr
    assert "vendor" in down.stdout  # the models are still shown
    (line,) = [line for line in down.stdout.splitlines() if line.startswith("store")]
    assert line.startswith(f"store degraded: {shown} is unreachable (")
    assert "Error" in line and "ok" not in line.split()
    assert "Traceback" not in down.stderr

    redis_server.start()
    back = status(redis_server.url, config)
    assert back.returncode == 0, back.stderr
    assert f"store: {shown} ok" in back.stdout.splitlines()
    assert "degraded" not in back.stdout


def degraded(term: Terminal) -> bool:
    return any(line.startswith("store degraded:") for line in term.lines())


def listed(term: Terminal) -> bool:
    return any(" succeeded " in line for line in term.lines())


async def test_top_shows_the_store_degraded_while_redis_is_down_and_keeps_the_table(
    tmp_path: Path,
) -> None:
    """Live on a terminal: Redis stopped -> a ``store degraded:`` line naming it above the last
    table (top goes on); Redis back (its data kept on disk) -> the line goes, the call stays."""
    with RedisServer(tmp_path / "redis", appendonly=True) as redis:
        await trio.run_process([*LLMINST, "run", "--store", redis.url, "echo", "hello"])
        term = Terminal([*LLMINST, "top", "--store", redis.url, "--interval", "0.3"])
        try:
            term.wait_for(listed)
            assert not degraded(term)

            redis.stop()
            # One frame with both: the pty may hand a frame over in pieces (its first lines
            # before its table), so the screen is read until the whole frame is in.
            term.wait_for(lambda t: degraded(t) and listed(t))
            (line,) = [line for line in term.lines() if line.startswith("store degraded:")]
            assert f"redis://127.0.0.1:{redis.port}/0 is unreachable" in line
            assert listed(term) and term.child.isalive()

            redis.start()
            term.wait_for(lambda t: not degraded(t) and listed(t))
            assert listed(term)
            term.child.send("q")
            assert term.wait_exit() == 0
            assert b"Traceback" not in term.received
        finally:
            term.child.close(force=True)
