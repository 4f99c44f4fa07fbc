"""`llminst models` and `llminst status`: what is configured, and what is installed and ready.

Both print a table to stdout and return. `status` runs only each model's version command (and,
with ``--probe``, one tiny prompt per model, through the supervisor); this module must never
start anything else or change a configuration.
"""

from __future__ import annotations

import argparse
import math
import shutil

from .._core.command import command_line
from .._core.status import render_status_table
from ..supervisor import open_supervisor
from .common import Setup

__all__ = ["models", "status"]


async def models(_args: argparse.Namespace, setup: Setup) -> int:
    for name, spec in sorted(setup.models.items()):
        print(f"{name:10} {spec.timeout_category.value:9} {command_line(spec)}")
    return 0


async def status(args: argparse.Namespace, setup: Setup) -> int:
    # A one-shot command has no "next status": wait for each version command (each is bounded).
    async with open_supervisor(models=setup.models, settings=setup.settings) as supervisor:
        statuses = await supervisor.status(probe=args.probe, version_wait_s=math.inf)
    width = shutil.get_terminal_size(fallback=(100, 24)).columns
    for line in render_status_table(statuses, width=width):
        print(line)
    return 0
