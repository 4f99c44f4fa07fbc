"""A replica in a process of its own: `python replica.py CONFIG_JSON`, SIGKILLed by the tests.

It opens the SQLite store CONFIG names, ties itself to the Redis at ``redis`` (a
`ReplicaLink` with the given ``settings``, under this process's real writer identity), starts
one job of ``model`` (the built-in echo, or a fakecli ``command`` with ``concurrency_scope`` and
``account``), prints one JSON line ``{"call_id": ..., "writer": ...}`` once the job's first
output is in the store (or once it is queued, with ``"wait_output": false``), then waits
forever: the test ends it (SIGKILL, as a machine that dies).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import coredis
import trio

from llminst import open_supervisor
from llminst._core.builtins import BUILTIN_MODELS
from llminst._core.spec import ModelSpec
from llminst.replicas import ReplicaLink, ReplicaSettings
from llminst.store.opening import open_store
from llminst.supervisor.recorder import writer_identity


async def main(config: dict[str, Any]) -> None:
    models = dict(BUILTIN_MODELS)
    if "command" in config:
        models["fake"] = ModelSpec(name="fake", **config["command"])
    client = coredis.Redis.from_url(config["redis"], decode_responses=True)
    async with client, open_store(config["store"]) as store:
        link = ReplicaLink(client, writer_identity(), ReplicaSettings(**config["settings"]))
        async with open_supervisor(models=models, store=store, replicas=link) as sup:
            call_id = await sup.start(config["model"], config["prompt"], timeout=600)
            while config.get("wait_output", True):
                await sup.flushed()
                if await store.read_output(call_id):
                    break
                await trio.sleep(0.05)
            print(json.dumps({"call_id": call_id, "writer": link.writer}), flush=True)
            await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main, json.loads(sys.argv[1]))
