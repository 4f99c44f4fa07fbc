"""`llminst serve`: start the MCP server over stdio or HTTP and serve until a signal.

Owns serve's start-up: the descriptor limit raised, the HTTP options and the configure_llm
allowlist checked and the call store opened before anything listens (a mistake is one line and
exit 2), the allowed roots of a call's ``cwd`` (over HTTP none unless configured, over stdio any
directory unless configured), the listening line on stderr. Over stdio, stdout belongs to the protocol: this module must never print to stdout,
and it never prints the token.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
from typing import TYPE_CHECKING

import attrs

from .._core.errors import InvalidInputError, LLMError
from .common import Setup, open_command_store, run_command, store_spec

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from mcp.server import MCPServer

    from ..server import ServerOptions
    from ..supervisor import Supervisor
    from ..transports import HttpListening

__all__ = ["serve"]

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


def serve(args: argparse.Namespace, setup: Setup) -> int:
    from ..server import ServerOptions
    from ..transports import check_http_options

    _raise_fd_limit()
    over_http = args.transport == "http"
    allowed = (*setup.allow_commands, *args.allow_command)
    roots = (*setup.allowed_roots, *args.allow_root)
    options = ServerOptions(
        models=setup.models,
        settings=setup.settings,
        budget=setup.budget,
        allow_configure=args.allow_configure or not over_http,
        allowed_commands=allowed or None,
        # Over HTTP a client is remote: without roots it may not pick a directory at all.
        allowed_roots=roots if roots or over_http else None,
        max_result_chars=setup.max_result_chars,
    )
    try:
        if args.stateless and not over_http:
            raise InvalidInputError(
                "--stateless applies to --transport http only (over stdio one client owns the "
                "server): add --transport http, or drop --stateless"
            )
        if over_http:
            check_http_options(
                args.host, args.port, next(iter(_tokens(args)), None), args.allow_host
            )
            if args.allow_configure and not allowed:
                raise InvalidInputError(
                    "--allow-configure over HTTP needs an allowlist of executables: add "
                    "--allow-command NAME (repeatable) or [server] allow_commands in the config "
                    "file, so remote clients cannot make the server run any command"
                )
        worker_url = _worker_url(args, setup)
        body = functools.partial(_serve_recorded, options, args, setup, worker_url)
        return run_command(body, who="llminst serve", verb="stopped")
    except LLMError as exc:
        print(f"llminst serve: {exc.kind}: {exc}", file=sys.stderr)
        return 2


def _worker_url(args: argparse.Namespace, setup: Setup) -> str | None:
    """`--worker`'s Redis URL (None without --worker); InvalidInputError if it is not one."""
    if args.worker is None:
        return None
    from .worker import worker_problem

    url: str | None = args.worker or store_spec(args, setup)
    problem = worker_problem(url, parallel=args.worker_parallel, claim_timeout=args.claim_timeout)
    if problem:
        raise InvalidInputError(f"--worker: {problem} (or give the URL: --worker URL)")
    return url


async def _serve_recorded(
    options: ServerOptions, args: argparse.Namespace, setup: Setup, worker_url: str | None
) -> int:
    """Open the call store and the batch queue of --worker (an unusable one ends serve before
    it listens), then serve."""
    from ..server import create_server

    async with (
        open_command_store(args, setup) as store,
        _open_worker(args, worker_url) as background,
    ):
        recorded = attrs.evolve(
            options,
            background=background,
            store=store,
            keep_prompts=setup.store.keep_prompts,
            # Over stdio the client's leaving ends the server: its jobs finish first, so a
            # later client of the same store reads their results (a signal still ends them).
            finish_jobs_on_close=args.transport != "http",
        )
        server = create_server(recorded)
        if args.transport == "http":
            return await _serve_http(server, args)
        return await _serve_stdio(server)


@contextlib.asynccontextmanager
async def _open_worker(
    args: argparse.Namespace, url: str | None
) -> AsyncIterator[Callable[[Supervisor], Awaitable[None]] | None]:
    """The server's background task that runs batch items (None without --worker)."""
    if url is None:
        yield None
        return
    from ..batch.redis import open_redis_batch_queue
    from ..batch.worker import run_worker
    from .worker import default_worker_name

    async with open_redis_batch_queue(url) as queue:
        yield functools.partial(
            run_worker,
            queue,
            worker=default_worker_name(),
            parallel=args.worker_parallel,
            claim_after_s=args.claim_timeout,
        )


async def _serve_stdio(server: MCPServer) -> int:
    from ..transports import serve_stdio

    await serve_stdio(server)
    return 0


async def _serve_http(server: MCPServer, args: argparse.Namespace) -> int:
    from ..transports import serve_http

    await serve_http(
        server,
        host=args.host,
        port=args.port,
        token=_tokens(args),
        allowed_hosts=args.allow_host,
        stateless=args.stateless,
        task_status=_AnnounceListening(),
    )
    return 0


def _tokens(args: argparse.Namespace) -> list[str]:
    """The --token values, or $LLMINST_HTTP_TOKEN when none is given."""
    if args.token:
        return list(args.token)
    from_env = os.environ.get("LLMINST_HTTP_TOKEN")
    return [from_env] if from_env else []


class _AnnounceListening:
    """The `task_status` of `serve_http` under `llminst serve`: once the server listens, say
    where in one line on stderr, whether a token is required (never the token) and which Host
    names are accepted. (Not a nursery's: an error before listening must reach `serve` as it
    is, not wrapped in an exception group.)"""

    def started(self, value: HttpListening | None = None) -> None:
        assert value is not None
        auth = (
            "clients must send Authorization: Bearer <token>"
            if value.token_required
            else "no token required"
        )
        sessions = "; stateless: no MCP sessions, any replica answers" if value.stateless else ""
        print(
            f"llminst serve: listening on {' '.join(value.urls)} ({auth}; "
            f"accepted Host names: {', '.join(value.host_names)}{sessions})",
            file=sys.stderr,
            flush=True,
        )
