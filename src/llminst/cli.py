"""The `llminst` command: `run` a prompt, list `models`, and `demo` the whole job on `echo`.

Answers go to stdout; logs and live status go to stderr. This module parses arguments and prints;
it runs calls only through the supervisor. SIGINT, SIGTERM and SIGHUP cancel any command (see
`llminst.signals`): its process trees are killed and reaped, then it exits with 128 + the signal.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import shutil
import signal
import sys
import textwrap
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TextIO

import trio
from attrs import frozen

from . import __version__
from ._core.command import command_line
from ._core.config import ModelSpec, Settings
from ._core.events import TextDelta
from ._core.status import render_status_table
from .configfile import load_config, resolve_models
from .errors import InvalidInputError, LLMError
from .logs import configure_logging
from .result import CallResult
from .signals import Stopped, run_until_signal
from .supervisor import RetryScheduled, Supervisor, open_supervisor
from .terminal import CursorModel, StatusLine, terminal_width

if TYPE_CHECKING:
    from mcp.server import MCPServer

    from .transports import HttpListening

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llminst", description="Run LLM command-line tools as supervised subprocesses."
    )
    parser.add_argument("--version", action="version", version=f"llminst {__version__}")
    _add_common(parser, defaults=True)
    # The same options after the subcommand (`llminst serve --log-level debug`).
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, defaults=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", parents=[common], help="run one prompt and stream the answer to stdout"
    )
    run.add_argument("model", help="model name, e.g. echo, claude, claude:sonnet")
    run.add_argument("prompt", help="the prompt ('-' reads it from stdin)")
    run.add_argument("--timeout", type=float, help="seconds (default: chosen from the prompt)")
    run.add_argument("--json", action="store_true", help="JSON mode: print the parsed JSON")
    run.add_argument("--schema", help="JSON Schema file for --json (default: question/answer)")

    serve = commands.add_parser(
        "serve", parents=[common], help="run the MCP server (stdio by default)"
    )
    serve.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    serve.add_argument("--host", default="127.0.0.1", help="HTTP: address to bind (loopback)")
    serve.add_argument("--port", type=int, default=8765, help="HTTP: port (0 picks a free one)")
    serve.add_argument(
        "--token",
        default=os.environ.get("LLMINST_HTTP_TOKEN"),
        help="HTTP: require 'Authorization: Bearer TOKEN' (default $LLMINST_HTTP_TOKEN)",
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

    commands.add_parser(
        "models", parents=[common], help="list the configured models and the command each runs"
    )
    status = commands.add_parser(
        "status", parents=[common], help="show which models are installed and ready"
    )
    status.add_argument(
        "--probe", action="store_true", help="also run a tiny prompt (spends tokens)"
    )
    demo = commands.add_parser(
        "demo", parents=[common], help="start the MCP server and show every tool working"
    )
    demo.add_argument(
        "--real", action="store_true", help="also send a one-line prompt to each installed real CLI"
    )
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


@frozen
class _Setup:
    """What the config file says: the models (built-ins plus its own) and the settings."""

    models: Mapping[str, ModelSpec]
    settings: Settings
    allow_commands: tuple[str, ...] = ()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        configure_logging(level=args.log_level, fmt=args.log_format)
        config = load_config(args.config)
    except (ValueError, LLMError) as exc:
        print(f"llminst: {exc}", file=sys.stderr)
        return 2
    setup = _Setup(
        models=resolve_models(config),
        settings=config.settings,
        allow_commands=config.server.allow_commands,
    )
    if args.command == "serve":
        return _serve(args, setup)
    handler = {"run": _run, "models": _models, "status": _status, "demo": _demo}[args.command]
    return _run_command(functools.partial(handler, args, setup))


def _run_command(
    body: Callable[[], Awaitable[int]], *, who: str = "llminst", verb: str = "cancelled"
) -> int:
    """Run a command's body under trio and return its exit status.

    SIGINT, SIGTERM and SIGHUP cancel the body (its cleanup runs: every process tree it
    started is killed and reaped); the command then says so in one line on stderr and exits
    with 128 + the signal's number, as a shell reports a command a signal ended.
    """
    try:
        outcome = trio.run(run_until_signal, body)
    except BaseException as exc:
        # Ctrl-C before the signal receiver was installed, or after it was closed.
        if not _only_keyboard_interrupts(exc):
            raise
        outcome = Stopped(signal.SIGINT)
    if isinstance(outcome, Stopped):
        print(f"{who}: {verb} by {outcome.name}", file=sys.stderr, flush=True)
        return outcome.exit_status
    return outcome


def _only_keyboard_interrupts(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(KeyboardInterrupt)[1] is None
    return isinstance(exc, KeyboardInterrupt)


async def _run(args: argparse.Namespace, setup: _Setup) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    schema = None
    if args.schema:
        try:
            schema = await trio.Path(args.schema).read_text(encoding="utf-8")
        except OSError as exc:
            print(f"llminst: cannot read schema file {args.schema!r}: {exc}", file=sys.stderr)
            return 2
    screen = _Screen(args.model)
    # `llminst run` owns every child of its process, so it can be a child subreaper: a
    # descendant that left its call's process group (setsid) is killed and reaped with it.
    async with (
        open_supervisor(models=setup.models, settings=setup.settings, subreaper=True) as supervisor,
        trio.open_nursery() as nursery,
    ):
        if screen.status is not None:
            nursery.start_soon(screen.status.run)
        try:
            result = await _stream_answer(supervisor, args, prompt, schema, screen)
        except LLMError as exc:
            screen.say(f"llminst: {exc.kind}: {_cli_message(exc, streamed=not args.json)}")
            tail = _unseen_stderr_tail(exc)
            if tail:
                screen.say("llminst: the CLI's stderr ends with:\n" + textwrap.indent(tail, "  "))
            return 1
        except trio.Cancelled:
            screen.leave_answer_line()  # the signal's message gets a line of its own
            raise
        finally:
            nursery.cancel_scope.cancel()
            screen.erase_status()
    if result is None:
        return 1  # the reader went away (`| head`): the call was stopped
    if args.json:
        print(json.dumps(result.parsed_json, indent=2, ensure_ascii=False))
    elif result.output and not result.output.endswith("\n"):
        print()
    return 0


def _cli_message(exc: LLMError, *, streamed: bool) -> str:
    """The error as a terminal user reads it: JSON mode's raw output (an attribute of the
    library's exception) follows the message unless it was already streamed to stdout."""
    raw = getattr(exc, "raw_output", "")
    if not raw or streamed:
        return exc.message
    return f"{exc.message}; the raw output follows\n--- raw output ---\n{raw}"


async def _stream_answer(
    supervisor: Supervisor,
    args: argparse.Namespace,
    prompt: str,
    schema: str | None,
    screen: _Screen,
) -> CallResult | None:
    """Stream the call's answer to stdout; None if stdout's reader went away (call stopped)."""
    async with supervisor.open_stream(
        args.model,
        prompt,
        timeout=args.timeout,
        json_mode=args.json or schema is not None,
        json_schema=schema,
    ) as stream:
        async for event in stream.events():
            if isinstance(event, RetryScheduled):
                screen.say(f"[llminst] {event.reason}")
            elif isinstance(event, TextDelta):
                if screen.status is not None:
                    screen.status.received += len(event.text.encode("utf-8", "replace"))
                if not args.json and not screen.answer(event.text):
                    return None
        return await stream.wait()


# How much of the CLI's stderr `run` shows after an error (the result keeps more).
_TAIL_LINES = 10
_TAIL_CHARS = 2000


def _unseen_stderr_tail(exc: LLMError) -> str:
    """The end of the CLI's stderr, unless the error's message already quotes it."""
    tail = exc.result.stderr_tail.strip() if exc.result is not None else ""
    last_lines = "\n".join(tail.splitlines()[-_TAIL_LINES:])[-_TAIL_CHARS:]
    return "" if last_lines in str(exc) else last_lines


class _Screen:
    """Where `run` writes: the answer on stdout, messages and the live status on stderr.

    The status line is shown only when stderr is a terminal (see `llminst.terminal`). When
    stdout is the same terminal, the cursor after the answer is followed, so that the status
    never garbles the answer and every message starts on a line of its own.
    """

    def __init__(self, model: str) -> None:
        shared = _same_terminal(sys.stdout, sys.stderr)
        self.cursor = CursorModel(terminal_width(sys.stdout)) if shared else None
        self.status = (
            StatusLine(
                model,
                out=sys.stderr,
                answer_cursor=self.cursor,
                width=functools.partial(terminal_width, sys.stderr),
            )
            if sys.stderr.isatty()
            else None
        )

    def answer(self, text: str) -> bool:
        """Write a piece of the answer; False once stdout's reader has gone away."""
        self.erase_status()
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            # Point stdout at /dev/null so the interpreter's final flush does not complain.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return False
        if self.cursor is not None:
            self.cursor.feed(text)
        return True

    def say(self, text: str) -> None:
        """Write a message (one or more whole lines) on stderr."""
        self.erase_status()
        self.leave_answer_line()
        print(text, file=sys.stderr, flush=True)

    def leave_answer_line(self) -> None:
        """On a shared terminal, end the answer's partial line so stderr starts a new one."""
        if self.cursor is not None and not self.cursor.at_line_start:
            print(file=sys.stderr, flush=True)
            self.cursor.feed("\n")

    def erase_status(self) -> None:
        if self.status is not None:
            self.status.erase()


def _same_terminal(first: TextIO, second: TextIO) -> bool:
    try:
        return (
            first.isatty()
            and second.isatty()
            and os.path.samestat(os.fstat(first.fileno()), os.fstat(second.fileno()))
        )
    except (OSError, ValueError):
        return False


async def _models(_args: argparse.Namespace, setup: _Setup) -> int:
    for name, spec in sorted(setup.models.items()):
        print(f"{name:10} {spec.timeout_category.value:9} {command_line(spec)}")
    return 0


# Each running call holds ~2 descriptors and each spawn ~7 more for a moment; the usual soft
# limit of 1,024 would cap a server at a few hundred calls. Capped, not the hard limit itself:
# children inherit it, and some programs loop over every possible descriptor at start.
_SERVE_FD_LIMIT = 65536


def _raise_fd_limit() -> None:
    """Raise this process's soft RLIMIT_NOFILE towards the hard limit (never lowers it)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _SERVE_FD_LIMIT if hard == resource.RLIM_INFINITY else min(hard, _SERVE_FD_LIMIT)
    if soft != resource.RLIM_INFINITY and soft < target:
        # On failure keep the limit we have: calls beyond it fail with a clear error.
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _serve(args: argparse.Namespace, setup: _Setup) -> int:
    from .server import ServerOptions, create_server
    from .transports import check_http_options

    _raise_fd_limit()
    over_http = args.transport == "http"
    allowed = (*setup.allow_commands, *args.allow_command)
    options = ServerOptions(
        models=setup.models,
        settings=setup.settings,
        allow_configure=args.allow_configure or not over_http,
        allowed_commands=allowed or None,
    )
    try:
        if over_http:
            check_http_options(args.host, args.port, args.token, args.allow_host)
            if args.allow_configure and not allowed:
                raise InvalidInputError(
                    "--allow-configure over HTTP needs an allowlist of executables: add "
                    "--allow-command NAME (repeatable) or [server] allow_commands in the config "
                    "file, so remote clients cannot make the server run any command"
                )
        server = create_server(options)
        body = (
            functools.partial(_serve_http, server, args)
            if over_http
            else functools.partial(_serve_stdio, server)
        )
        return _run_command(body, who="llminst serve", verb="stopped")
    except LLMError as exc:
        print(f"llminst serve: {exc.kind}: {exc}", file=sys.stderr)
        return 2


async def _serve_stdio(server: MCPServer) -> int:
    from .transports import serve_stdio

    await serve_stdio(server)
    return 0


async def _serve_http(server: MCPServer, args: argparse.Namespace) -> int:
    from .transports import serve_http

    await serve_http(
        server,
        host=args.host,
        port=args.port,
        token=args.token,
        allowed_hosts=args.allow_host,
        task_status=_AnnounceListening(),
    )
    return 0


class _AnnounceListening:
    """The `task_status` of `serve_http` under `llminst serve`: once the server listens, say
    where in one line on stderr, whether a token is required (never the token) and which Host
    names are accepted. (Not a nursery's: an error before listening must reach `_serve` as it
    is, not wrapped in an exception group.)"""

    def started(self, value: HttpListening | None = None) -> None:
        assert value is not None
        auth = (
            "clients must send Authorization: Bearer <token>"
            if value.token_required
            else "no token required"
        )
        print(
            f"llminst serve: listening on {' '.join(value.urls)} ({auth}; "
            f"accepted Host names: {', '.join(value.host_names)})",
            file=sys.stderr,
            flush=True,
        )


async def _status(args: argparse.Namespace, setup: _Setup) -> int:
    # A one-shot command has no "next status": wait for each version command (each is bounded).
    async with open_supervisor(models=setup.models, settings=setup.settings) as supervisor:
        statuses = await supervisor.status(probe=args.probe, version_wait_s=math.inf)
    width = shutil.get_terminal_size(fallback=(100, 24)).columns
    for line in render_status_table(statuses, width=width):
        print(line)
    return 0


async def _demo(args: argparse.Namespace, _setup: _Setup) -> int:
    """Start `llminst serve` over stdio and use every tool through the MCP SDK client."""
    from .demo import run_demo

    return await run_demo(config=args.config, real=args.real)


if __name__ == "__main__":
    sys.exit(main())
