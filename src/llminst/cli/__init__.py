"""The `llminst` command: `run` a prompt, `serve` MCP, list `models`, show `status`, `demo` it all.

Answers go to stdout; logs and live status go to stderr. One module per subcommand (`run`,
`serve`, `inventory` for models and status; the demo itself is `llminst.demo`), the arguments in
`parser`, and what they share (the config's set-up, exit statuses) in `common`. This package
parses arguments and prints; it must never start a process itself: calls run only through the
supervisor. SIGINT, SIGTERM and SIGHUP cancel any command (see `llminst.signals`): its process
trees are killed and reaped, then it exits with 128 + the signal.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence

from .._core.errors import LLMError
from ..configfile import load_config, resolve_models
from ..logs import configure_logging
from . import inventory, run, serve
from .common import Setup, run_command
from .parser import build_parser

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
        max_result_chars=config.server.max_result_chars,
    )
    if args.command == "serve":
        return serve.serve(args, setup)
    handler = {
        "run": run.run,
        "models": inventory.models,
        "status": inventory.status,
        "demo": _demo,
    }[args.command]
    return run_command(functools.partial(handler, args, setup))


async def _demo(args: argparse.Namespace, _setup: Setup) -> int:
    """Start `llminst serve` over stdio and use every tool through the MCP SDK client."""
    from ..demo import run_demo

    return await run_demo(config=args.config, real=args.real)
