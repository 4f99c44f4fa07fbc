"""Two real `llminst serve --stateless` replicas on one real redis-server, standing for two
machines (``LLMINST_HOST_NAME`` a and b, each its own HOME, where the claude-like
`resuming_cli.py` keeps its resume state): a session's second turn sent to B is answered by A
resuming its own CLI session (issue 15), its text streamed to
B's client as progress. One test: each replica start costs seconds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from llminst.store.opening import open_store

from ..support.balancer import client_of, open_replicas
from ..support.config import write_config
from ..support.paths import RESUMING_CLI
from ..support.progress import ProgressRecorder
from ..support.redis import RedisServer
from ..support.tools import text_of


async def test_a_turn_sent_to_b_is_answered_by_a_resuming_its_session(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    runs = tmp_path / "runs.jsonl"
    model = {
        "command": [sys.executable, RESUMING_CLI, str(runs)],
        "prompt_separator": "--",
        "output_format": "claude-stream-json",
        "resume_args": ["--resume", "{session_id}"],
    }
    config = write_config(tmp_path / "llminst.toml", models={"resuming": model})
    envs = []
    for host in ("a", "b"):
        (tmp_path / f"home-{host}").mkdir()
        envs.append({"LLMINST_HOST_NAME": host, "HOME": str(tmp_path / f"home-{host}")})
    async with open_replicas(
        tmp_path, config, 2, "--stateless", "--store", redis_server.url, envs=envs
    ) as (replica_a, replica_b):
        turn = {"model": "resuming", "session": "s"}
        async with client_of(replica_a.url) as on_a:
            first = await on_a.call_tool("execute_llm", {**turn, "prompt": "turn 1"})
        progress = ProgressRecorder()
        async with client_of(replica_b.url) as on_b:
            second = await on_b.call_tool(
                "execute_llm", {**turn, "prompt": "turn 2"}, progress_callback=progress
            )
            await progress.wait_for_text(text_of(second), within_s=10)  # streamed via B

    assert not first.is_error and not second.is_error, text_of(second)
    session_id = first.structured_content["session_id"]
    assert session_id.startswith("sid-")
    # b's HOME has no such CLI session: only a could resume it, and a did
    assert json.loads(text_of(second)) == ["--resume", session_id, "--", "turn 2"]
    assert second.structured_content["session_id"] == session_id
    assert len(runs.read_text().splitlines()) == 2
    async with open_store(redis_server.url) as store:
        record = await store.get_call(second.structured_content["call_id"])
        session = await store.get_session("s")
    assert record is not None and record.writer is not None and record.writer.startswith("a:")
    assert session is not None and session.cli_host == "a" and len(session.turns) == 4
