"""The `llminst` command line: every subcommand's arguments, one function each.

This module only declares arguments (names, defaults, help); it must never read a file, start
anything or check an option's value beyond argparse's types and choices: the commands do that.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TypeAlias

from .. import __version__

if TYPE_CHECKING:
    _Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llminst", description="Run LLM command-line tools as supervised subprocesses."
    )
    parser.add_argument("--version", action="version", version=f"llminst {__version__}")
    _add_common(parser, defaults=True)
    # The same options after the subcommand (`llminst serve --log-level debug`).
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, defaults=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(commands, common)
    _add_serve(commands, common)
    commands.add_parser(
        "models", parents=[common], help="list the configured models and the command each runs"
    )
    _add_status(commands, common)
    _add_demo(commands, common)
    return parser


def _add_common(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    def default(value: str | None) -> str | None:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "--config",
        default=default(None),
        help="config file (default: $LLMINST_CONFIG or the user config dir)",
    )
    parser.add_argument(
        "--log-level", default=default("warning"), help="debug, info, warning (default), error"
    )
    parser.add_argument(
        "--log-format", default=default("console"), choices=["console", "json"], help="log format"
    )


def _add_run(commands: _Commands, common: argparse.ArgumentParser) -> None:
    run = commands.add_parser(
        "run", parents=[common], help="run one prompt and stream the answer to stdout"
    )
    run.add_argument("model", help="model name, e.g. echo, claude, claude:sonnet")
    run.add_argument("prompt", help="the prompt ('-' reads it from stdin)")
    run.add_argument("--timeout", type=float, help="seconds (default: chosen from the prompt)")
    run.add_argument("--json", action="store_true", help="JSON mode: print the parsed JSON")
    run.add_argument("--schema", help="JSON Schema file for --json (default: question/answer)")


def _add_serve(commands: _Commands, common: argparse.ArgumentParser) -> None:
    serve = commands.add_parser(
        "serve", parents=[common], help="run the MCP server (stdio by default)"
    )
    serve.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    serve.add_argument("--host", default="127.0.0.1", help="HTTP: address to bind (loopback)")
    serve.add_argument("--port", type=int, default=8765, help="HTTP: port (0 picks a free one)")
    serve.add_argument(
        "--token",
        action="append",
        help="HTTP: require 'Authorization: Bearer TOKEN' (default $LLMINST_HTTP_TOKEN); "
        "repeatable: each client sees only the calls its own token started",
    )
    serve.add_argument(
        "--allow-configure",
        action="store_true",
        help="HTTP: let clients call configure_llm (it can run any command); always on for stdio",
    )
    serve.add_argument(
        "--allow-command",
        action="append",
        default=[],
        metavar="EXECUTABLE",
        help="an executable configure_llm may use (repeatable; adds to [server] allow_commands); "
        "required for --allow-configure over HTTP",
    )
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        help="HTTP: an extra Host header value to accept (DNS-rebinding protection)",
    )


def _add_status(commands: _Commands, common: argparse.ArgumentParser) -> None:
    status = commands.add_parser(
        "status", parents=[common], help="show which models are installed and ready"
    )
    status.add_argument(
        "--probe", action="store_true", help="also run a tiny prompt (spends tokens)"
    )


def _add_demo(commands: _Commands, common: argparse.ArgumentParser) -> None:
    demo = commands.add_parser(
        "demo", parents=[common], help="start the MCP server and show every tool working"
    )
    demo.add_argument(
        "--real", action="store_true", help="also send a one-line prompt to each installed real CLI"
    )
