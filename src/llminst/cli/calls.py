"""`llminst calls` and `llminst show`: the call store read from the command line.

`calls` prints recent calls as a table (or ``--json``) on stdout. `show` prints one call's
record on stderr and its output, exactly as stored, on stdout, so ``llminst show ID > out.txt``
keeps the answer alone (``--json`` prints both as one object on stdout). An unknown id is one
line on stderr and exit status 1. This module only reads the store (opening it marks orphaned
calls interrupted, as any start does); it must never run a call.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import attrs

from .._core.records import CallRecord, CallState
from ..store import store_label
from .common import Setup, open_command_store, store_spec

__all__ = ["calls", "show"]

_COLUMNS = ("ID", "STATE", "MODEL", "STARTED", "DURATION", "CHARS", "ERROR")


async def calls(args: argparse.Namespace, setup: Setup) -> int:
    states = [CallState(s) for s in args.state] if args.state else None
    async with open_command_store(args, setup) as store:
        records = await store.list_calls(states=states, model=args.model, limit=args.limit)
    if args.json:
        print(json.dumps([record_dict(r) for r in records], indent=2, ensure_ascii=False))
    else:
        print(calls_table(records, now=time.time()))
    return 0


async def show(args: argparse.Namespace, setup: Setup) -> int:
    async with open_command_store(args, setup) as store:
        record = await store.get_call(args.call_id)
        output = "" if record is None else await store.read_output(args.call_id)
    if record is None:
        where = store_label(store_spec(args, setup))
        print(
            f"llminst: unknown_call: no call {args.call_id} in {where}; "
            "list them with llminst calls",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps({**record_dict(record), "output": output}, indent=2, ensure_ascii=False))
        return 0
    for name, value in record_dict(record).items():
        if value is not None and name != "result":
            print(f"{name}: {value}", file=sys.stderr)
    print("--- output ---", file=sys.stderr, flush=True)
    sys.stdout.write(output)
    sys.stdout.flush()
    return 0


def record_dict(record: CallRecord) -> dict[str, Any]:
    """The record as plain JSON data (states and origins as their names)."""
    return attrs.asdict(record, value_serializer=lambda _i, _a, v: getattr(v, "value", v))


def calls_table(records: Sequence[CallRecord], *, now: float) -> str:
    """The records as aligned columns under a header line."""
    rows = [_COLUMNS, *(_row(record, now) for record in records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _row(record: CallRecord, now: float) -> tuple[str, ...]:
    started = record.started_at or record.created_at
    end = record.finished_at if record.state.done else now
    duration = "" if end is None or record.started_at is None else f"{end - started:.1f}s"
    return (
        record.call_id,
        record.state.value,
        record.model,
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        duration,
        str(record.output_chars),
        record.error_kind or "",
    )
