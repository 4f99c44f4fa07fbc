"""The `llminst` command: `run` a prompt, `compare` models, `serve` MCP, list `models` and
`sessions`, show `status` and `usage`, `cache clear`, `demo` it all, read the call store
(`calls`, `show`), watch it live (`top`), `cancel` a call another llminst process runs, and run JSONL
`batch`es (here, or on Redis by `worker`s).

Answers go to stdout; logs and live status go to stderr. One module per subcommand (`run`,
`compare`, `serve`, `inventory` for models and status, `calls` for calls and show, `cancel`,
`top` with its terminal view in `monitor`; the demo
itself is `llminst.demo`), the arguments in `parser`, and what they share (the config's set-up,
the call store, exit statuses) in `common`. A configuration mistake (the config file, an
unusable store) is one line on stderr and exit status 2. This package
parses arguments and prints; it must never start a process itself: calls run only through the
supervisor. SIGINT, SIGTERM and SIGHUP cancel any command (see `llminst.signals`): its process
trees are killed and reaped, then it exits with 128 + the signal.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence

from .._core.errors import ConfigError, LLMError
from ..configfile import load_config, resolve_models
from ..logs import configure_logging
from . import batch, calls, cancel, compare, inventory, ledger, run, serve, top, worker
from .common import Setup, run_command
from .parser import parse_args

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        configure_logging(level=args.log_level, fmt=args.log_format)
        config = load_config(args.config)
    except (ValueError, LLMError) as exc:
        print(f"llminst: {exc}", file=sys.stderr)
        return 2
    setup = Setup(
        models=resolve_models(config),
        settings=config.settings,
        allow_commands=config.server.allow_commands,
        allowed_roots=config.server.allowed_roots,
        store=config.store,
        budget=config.budget,
        max_result_chars=config.server.max_result_chars,
    )
    if args.command == "serve":
        return serve.serve(args, setup)
    handler = {
        "run": run.run,
        "compare": compare.compare,
        "models": inventory.models,
        "status": inventory.status,
        "sessions": inventory.sessions,
        "usage": ledger.usage,
        "cache": ledger.cache_clear,
        "demo": _demo,
        "calls": calls.calls,
        "show": calls.show,
        "cancel": cancel.cancel,
        "top": top.top,
        "batch": batch.batch,
        "worker": worker.worker,
    }[args.command]
    try:
        return run_command(functools.partial(handler, args, setup))
    except ConfigError as exc:  # an unusable store, found as the command opened it
        print(f"llminst: {exc.kind}: {exc}", file=sys.stderr)
        return 2


async def _demo(args: argparse.Namespace, _setup: Setup) -> int:
    """Start `llminst serve` over stdio and use every tool through the MCP SDK client."""
    from ..demo import run_demo

    return await run_demo(config=args.config, real=args.real)
