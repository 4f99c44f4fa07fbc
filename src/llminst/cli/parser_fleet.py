"""The `llminst` command line's arguments for work shared by several machines: `batch`,
`worker`, `serve --worker`, and the `--store` option every store-reading command takes.

Only declares arguments (see `parser`); never reads a file or starts anything.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    _Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["add_batch", "add_store", "add_worker", "add_worker_options"]


def add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="PATH|memory",
        help="where calls are recorded: a SQLite file, or 'memory' for nothing on disk "
        "(default: [store] path, else llminst.sqlite3 in the user data directory)",
    )


def add_worker_options(serve: argparse.ArgumentParser) -> None:
    """`llminst serve --worker`: a server that also takes batch items from Redis."""
    serve.add_argument(
        "--worker",
        nargs="?",
        const="",
        metavar="REDIS_URL",
        help="also run the items of batches queued on Redis, as llminst worker does, through "
        "this server's calls and limits (default URL: --store)",
    )
    serve.add_argument(
        "--worker-parallel", type=int, default=4, help="--worker: items run at once at most"
    )
    serve.add_argument(
        "--claim-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="--worker: take over an item another worker has not renewed for this long",
    )


def add_batch(commands: _Commands, common: argparse.ArgumentParser) -> None:
    batch = commands.add_parser(
        "batch",
        parents=[common],
        usage="llminst batch FILE.jsonl | resume ID | status ID | results ID | list [OPTIONS]",
        help="run a JSONL file of prompts (here, or on Redis workers) and read its results",
        description='FILE.jsonl has one JSON object per line: {"prompt": ..., "model"?, '
        '"json_schema"?, "session"?, "id"?}. With a SQLite store the batch runs here '
        "(resume ID continues an interrupted one); with --store redis://... it is queued for "
        "llminst worker. Exit status: 0 every item succeeded, 1 some failed (or unknown "
        "batch), 2 invalid input.",
    )
    batch.add_argument("words", nargs="+", metavar="FILE|ACTION [ID]", help=argparse.SUPPRESS)
    batch.add_argument("--model", help="the model of items that name none")
    batch.add_argument("--id", help="the batch's id (default: a new one; an existing one resumes)")
    batch.add_argument(
        "--parallel", type=int, default=4, help="items run at once at most (default 4)"
    )
    batch.add_argument("--json", action="store_true", help="status, list: print JSON")
    batch.add_argument("-o", "--output", metavar="FILE", help="results: write the JSONL here")
    batch.add_argument("--limit", type=int, default=20, help="list: at most this many")
    add_store(batch)


def add_worker(commands: _Commands, common: argparse.ArgumentParser) -> None:
    worker = commands.add_parser(
        "worker",
        parents=[common],
        help="run the items of batches queued on Redis (--store redis://HOST:PORT/DB)",
    )
    worker.add_argument(
        "--parallel", type=int, default=4, help="items run at once at most (default 4)"
    )
    worker.add_argument(
        "--claim-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="take over an item another worker has not renewed for this long (default 60; "
        "a live worker renews its items every third of it)",
    )
    worker.add_argument("--name", help="this worker's name (default HOST-PID)")
    add_store(worker)
