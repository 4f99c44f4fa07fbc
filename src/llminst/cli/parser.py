"""The `llminst` command line: every subcommand's arguments, one function each.

This module only declares arguments (names, defaults, help); it must never read a file, start
anything or check an option's value beyond argparse's types and choices: the commands do that.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

from .. import __version__
from .parser_fleet import add_batch, add_store, add_worker, add_worker_options

if TYPE_CHECKING:
    _Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["build_parser", "parse_args"]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line's arguments (argparse's usage error and exit 2 if they are wrong)."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if args.command == "compare":
        return _compare_words(parser, args, extras)
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    return args


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
    _add_compare(commands, common)
    _add_serve(commands, common)
    commands.add_parser(
        "models", parents=[common], help="list the configured models and the command each runs"
    )
    _add_status(commands, common)
    _add_sessions(commands, common)
    _add_usage(commands, common)
    _add_cache(commands, common)
    _add_demo(commands, common)
    _add_calls(commands, common)
    _add_show(commands, common)
    _add_cancel(commands, common)
    _add_top(commands, common)
    add_batch(commands, common)
    add_worker(commands, common)
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
    run.add_argument("--cwd", metavar="DIR", help="the directory the CLI runs in")
    run.add_argument(
        "--system",
        metavar="TEXT",
        help="a system prompt (the CLI's own flag where it has one, else prepended)",
    )
    run.add_argument(
        "--fallback",
        action="append",
        metavar="MODEL",
        help="a model to try if MODEL is rate limited (or cooling down), not logged in, not "
        "installed or cannot reach its API (repeatable, tried in order; default: the model's "
        "configured fallbacks)",
    )
    run.add_argument(
        "--session",
        metavar="NAME",
        help="open or continue the session NAME (the conversation so far, on any model)",
    )
    run.add_argument(
        "--cache",
        action="store_true",
        default=None,
        help="answer from the response cache if the same call succeeded before (no CLI runs), "
        "else run it and keep its answer (default: as the model's cache_ttl_s says)",
    )
    add_store(run)


def _add_compare(commands: _Commands, common: argparse.ArgumentParser) -> None:
    compare = commands.add_parser(
        "compare",
        parents=[common],
        usage="llminst compare [OPTIONS] MODEL [MODEL ...] -- PROMPT",
        help="ask several models the same prompt at once and show the answers side by side",
        description="Exit status: 0 every model answered, 1 one or more failed (the answers "
        "that came are printed), 2 refused before any call started.",
    )
    compare.add_argument(
        "words",
        nargs="+",
        metavar="MODEL... -- PROMPT",
        help="1 to 8 distinct models, then the prompt ('-' reads it from stdin)",
    )
    compare.add_argument("--timeout", type=float, help="seconds for each model's call")
    compare.add_argument("--json", action="store_true", help="JSON mode for every model")
    compare.add_argument("--schema", help="JSON Schema file for --json (default: question/answer)")
    compare.add_argument(
        "--synthesize", metavar="MODEL", help="a model that combines the answers into one"
    )
    add_store(compare)


def _compare_words(
    parser: argparse.ArgumentParser, args: argparse.Namespace, extras: list[str]
) -> argparse.Namespace:
    """`compare`'s models and prompt, wherever its options were put between them.

    argparse reads a run of positional arguments once, so ``MODEL MODEL --timeout 3 -- PROMPT``
    leaves what follows the option unread; those words are the rest of the models and the
    prompt (after ``--``), unless one before ``--`` looks like an option.
    """
    cut = extras.index("--") if "--" in extras else len(extras)
    before, after = extras[:cut], extras[cut + 1 :]
    unknown = [word for word in before if word.startswith("-") and word != "-"]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    words = [*args.words, *before, *after]
    if len(words) < 2:
        parser.error(
            "compare needs at least one model and a prompt: llminst compare MODEL -- PROMPT"
        )
    args.models, args.prompt = words[:-1], words[-1]
    return args


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
        "--allow-root",
        action="append",
        default=[],
        metavar="DIR",
        help="a directory under which a call's cwd may lie (repeatable; adds to [server] "
        "allowed_roots); over HTTP, calls get no cwd without one",
    )
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        help="HTTP: an extra Host header value to accept (DNS-rebinding protection)",
    )
    add_worker_options(serve)
    serve.add_argument(
        "--stateless",
        action="store_true",
        help="HTTP: keep no MCP session between requests, so any replica behind a load "
        "balancer answers any request (no sticky sessions; share jobs with --store redis://)",
    )
    add_store(serve)


def _add_status(commands: _Commands, common: argparse.ArgumentParser) -> None:
    status = commands.add_parser(
        "status", parents=[common], help="show which models are installed and ready"
    )
    status.add_argument(
        "--probe", action="store_true", help="also run a tiny prompt (spends tokens)"
    )
    add_store(status)


def _add_sessions(commands: _Commands, common: argparse.ArgumentParser) -> None:
    sessions = commands.add_parser(
        "sessions", parents=[common], help="list the sessions `run --session NAME` continues"
    )
    sessions.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    sessions.add_argument("--json", action="store_true", help="print them as JSON")
    add_store(sessions)


def _add_usage(commands: _Commands, common: argparse.ArgumentParser) -> None:
    usage = commands.add_parser(
        "usage", parents=[common], help="show calls, tokens, cost and time per model/day/session"
    )
    usage.add_argument(
        "--since", metavar="WHEN", help="only calls since: 30m, 12h, 7d, 2w or an ISO date"
    )
    usage.add_argument(
        "--by",
        choices=["model", "day", "session"],
        default="model",
        help="one row per model (default), UTC day or session",
    )
    usage.add_argument("--json", action="store_true", help="print the ledger as JSON")
    add_store(usage)


def _add_cache(commands: _Commands, common: argparse.ArgumentParser) -> None:
    cache = commands.add_parser("cache", parents=[common], help="manage the response cache")
    actions = cache.add_subparsers(dest="cache_action", required=True)
    clear = actions.add_parser("clear", parents=[common], help="forget every cached answer")
    add_store(clear)


def _add_demo(commands: _Commands, common: argparse.ArgumentParser) -> None:
    demo = commands.add_parser(
        "demo", parents=[common], help="start the MCP server and show every tool working"
    )
    demo.add_argument(
        "--real", action="store_true", help="also send a one-line prompt to each installed real CLI"
    )


def _add_calls(commands: _Commands, common: argparse.ArgumentParser) -> None:
    calls = commands.add_parser(
        "calls", parents=[common], help="list recent calls (newest first) from the call store"
    )
    calls.add_argument(
        "--state",
        action="append",
        choices=["queued", "running", "succeeded", "failed", "cancelled", "interrupted"],
        help="only calls in this state (repeatable)",
    )
    calls.add_argument("--model", help="only calls of this model (as given, e.g. claude:sonnet)")
    calls.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    calls.add_argument("--json", action="store_true", help="print a JSON list of the records")
    add_store(calls)


def _add_show(commands: _Commands, common: argparse.ArgumentParser) -> None:
    show = commands.add_parser(
        "show",
        parents=[common],
        help="show one call: its record on stderr, its output on stdout",
    )
    show.add_argument("call_id", metavar="CALL_ID", help="the call's id (see llminst calls)")
    show.add_argument(
        "--json", action="store_true", help="print the record and the output as one JSON object"
    )
    add_store(show)


def _add_cancel(commands: _Commands, common: argparse.ArgumentParser) -> None:
    cancel = commands.add_parser(
        "cancel",
        parents=[common],
        help="cancel a running call, whichever llminst process on this store runs it",
        description="Exit status: 0 the call ended (or had already ended), 1 unknown call or "
        "still running when --wait ran out.",
    )
    cancel.add_argument("call_id", metavar="CALL_ID", help="the call's id (see llminst calls)")
    cancel.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for the call to end (default 10)",
    )
    add_store(cancel)


def _add_top(commands: _Commands, common: argparse.ArgumentParser) -> None:
    top = commands.add_parser(
        "top",
        parents=[common],
        help="a live view of running and recent calls; pick one (up/down, j/k), c cancels it, "
        "q quits",
    )
    top.add_argument(
        "--once",
        action="store_true",
        help="print one table and exit (the default when stdout is not a terminal)",
    )
    top.add_argument(
        "--interval",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="seconds between refreshes (default 0.5)",
    )
    top.add_argument("--limit", type=int, default=30, help="calls shown at most (default 30)")
    add_store(top)
