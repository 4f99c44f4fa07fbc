"""`llminst usage` (the usage ledger as a table) and `llminst cache clear`.

`usage` prints one row per model, UTC day or session (``--by``) of the calls in the store since
``--since`` (7d, 12h, an ISO date): calls, failures, cache hits, tokens, cost (``?`` where no
call had a known cost; ``+`` after a cost that leaves out calls of unknown cost) and time spent,
then a total; ``--json`` prints the same as JSON. `cache clear` forgets every cached answer and
says how many. Both use the command's store (``--store``, else ``[store] path``). This module
only reads and clears the store; it must never start a call.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable

from .._core.errors import InvalidInputError
from .._core.ledger import UsageRow, parse_since, total_row
from .common import Setup, open_command_store

__all__ = ["cache_clear", "render_usage_table", "usage"]

_COLUMNS = (
    ("calls", "CALLS"),
    ("failures", "FAILED"),
    ("cached", "CACHED"),
    ("input_tokens", "IN"),
    ("output_tokens", "OUT"),
    ("cache_read_tokens", "CACHE_R"),
    ("cache_write_tokens", "CACHE_W"),
    ("reasoning_tokens", "REASON"),
)


async def usage(args: argparse.Namespace, setup: Setup) -> int:
    try:
        since = parse_since(args.since, now=time.time())
    except InvalidInputError as exc:
        print(f"llminst: {exc.kind}: {exc}", file=sys.stderr)
        return 2
    async with open_command_store(args, setup) as store:
        rows = await store.usage_summary(since=since, group_by=args.by)
    total = total_row(rows)
    if args.json:
        document = {
            "group_by": args.by,
            "since": since,
            "rows": [row.to_dict() for row in rows],
            "total": total.to_dict(),
        }
        print(json.dumps(document, indent=2))
        return 0
    for line in render_usage_table(rows, total, group_by=args.by):
        print(line)
    return 0


async def cache_clear(args: argparse.Namespace, setup: Setup) -> int:
    async with open_command_store(args, setup) as store:
        count = await store.clear_cache()
    print(f"cleared {count} cached answer{'' if count == 1 else 's'}")
    return 0


def render_usage_table(rows: Iterable[UsageRow], total: UsageRow, *, group_by: str) -> list[str]:
    """The ledger as aligned text lines: a header, one line per row, the total."""
    table = [[group_by.upper(), *(title for _, title in _COLUMNS), "COST_USD", "TIME_S"]]
    for row in [*rows, total]:
        counts = [_count(getattr(row, name)) for name, _ in _COLUMNS]
        table.append([row.group, *counts, _cost(row), f"{row.time_s:.1f}"])
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    return [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in table
    ]


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _cost(row: UsageRow) -> str:
    if row.cost_usd is None:
        return "?" if row.cost_unknown else "-"
    return f"{row.cost_usd:.4f}" + ("+" if row.cost_unknown else "")
