"""Host "a" of the routing tests in a process of its own: ``python route_replica.py CONFIG_JSON``.

It opens the SQLite store CONFIG names, ties itself to the Redis at ``redis`` (``settings``) as
host ``host`` with ``home`` as its CLIs' HOME, runs the first turn of session ``session`` with the
resuming CLI (`resuming_cli.py`, logging to ``runs``), prints one JSON line ``{"writer": ...}``,
then serves routed turns until the test SIGKILLs it (a machine that dies). A session turn's lock
lives ``session_lock_lease_s`` past its last renewal (the default's 30 s if not given).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import coredis
import trio

from llminst import open_supervisor
from llminst._core.settings import Settings
from llminst._core.spec import ModelSpec, OutputFormat
from llminst.replicas import ReplicaLink, ReplicaSettings
from llminst.store.opening import open_store
from llminst.supervisor.recorder import writer_identity


def resuming_spec(cli: str, runs: str) -> ModelSpec:
    """The claude-like model of the routing tests: `cli` logging its runs to `runs`."""
    return ModelSpec(
        name="resuming",
        command=(sys.executable, cli, runs),
        prompt_separator="--",
        output_format=OutputFormat.CLAUDE_STREAM_JSON,
        resume_args=("--resume", "{session_id}"),
    )


async def main(config: dict[str, Any]) -> None:
    models = {"resuming": resuming_spec(config["cli"], config["runs"])}
    client = coredis.Redis.from_url(config["redis"], decode_responses=True)
    async with client, open_store(config["store"]) as store:
        link = ReplicaLink(client, writer_identity(), ReplicaSettings(**config["settings"]))
        async with open_supervisor(
            models=models,
            store=store,
            replicas=link,
            host=config["host"],
            base_env={**os.environ, "HOME": config["home"]},
            settings=Settings(**config.get("session_settings", {})),
        ) as sup:
            await sup.run("resuming", "turn 1", session=config["session"])
            await sup.flushed()
            print(json.dumps({"writer": link.writer}), flush=True)
            await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main, json.loads(sys.argv[1]))
