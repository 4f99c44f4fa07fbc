"""`llminst models`, `status` and `sessions`: what is configured, what is installed and ready,
and which conversations calls can continue.

Each prints a table (`sessions --json`: JSON) to stdout and returns. `status` runs only each model's version command (and,
with ``--probe``, one tiny prompt per model, through the supervisor); this module must never
start anything else or change a configuration.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time

from .._core.command import command_line
from .._core.records import CallOrigin
from .._core.sessions import session_summary
from .._core.status import render_status_table
from ..supervisor import open_supervisor
from .common import Setup, open_command_store
from .storestate import open_status_store, store_label_of, store_line

__all__ = ["models", "sessions", "status"]


async def models(_args: argparse.Namespace, setup: Setup) -> int:
    for name, spec in sorted(setup.models.items()):
        print(f"{name:10} {spec.timeout_category.value:9} {command_line(spec)}")
    return 0


async def status(args: argparse.Namespace, setup: Setup) -> int:
    # A one-shot command has no "next status": wait for each version command (each is bounded).
    # The store holds the cooldowns status shows (and records a probe's calls).
    async with (
        open_status_store(args, setup) as (store, store_problem),
        open_supervisor(
            models=setup.models,
            settings=setup.settings,
            store=store,
            origin=CallOrigin.RUN,
            keep_prompts=setup.store.keep_prompts,
        ) as supervisor,
    ):
        statuses = await supervisor.status(probe=args.probe, version_wait_s=math.inf)
        health = supervisor.store_health
        if store_problem is None and health.degraded:
            store_problem = f"{store_label_of(args, setup)} is unreachable ({health.last_error})"
    width = shutil.get_terminal_size(fallback=(100, 24)).columns
    for line in render_status_table(statuses, width=width):
        print(line)
    label = store_label_of(args, setup)
    if label is not None:  # a store on a server: say whether it answers
        print(store_line(label, store_problem))
    return 0


async def sessions(args: argparse.Namespace, setup: Setup) -> int:
    if args.limit < 1:
        print(
            f"llminst: invalid_input: --limit must be at least 1, got {args.limit}", file=sys.stderr
        )
        return 2
    async with open_command_store(args, setup) as store:
        records = await store.list_sessions(limit=args.limit)
    if args.json:
        print(json.dumps([session_summary(r) for r in records], indent=2, ensure_ascii=False))
        return 0
    print(f"{'NAME':30} {'MODEL':20} {'TURNS':>5}  UPDATED")
    for record in records:
        updated = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.updated_at))
        print(f"{record.name:30} {record.model:20} {len(record.turns):5}  {updated}")
    return 0
