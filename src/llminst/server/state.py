"""What every tool reaches: the options the server was built with, and its one supervisor.

The server's lifespan makes one `ServerState` for the server's whole life; a tool finds it with
`state_of(ctx)`. This module holds data only: it never runs a call or starts a process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from attrs import Factory, frozen
from mcp.server.mcpserver import Context

from .._core.backoff import BackoffPolicy
from .._core.paging import DEFAULT_MAX_RESULT_CHARS, ResultCap
from .._core.spec import BudgetSettings, ModelSpec, Settings
from ..store import CallStore
from ..supervisor import Supervisor

__all__ = ["ServerOptions", "ServerState", "state_of"]


@frozen(kw_only=True)
class ServerOptions:
    """How the MCP server behaves.

    Attributes:
        models: the models it serves.
        settings: supervisor settings (concurrency, grace period, output cap).
        backoff: the rate-limit backoff policy.
        base_env: the environment CLIs start from (None: the server's own, as it was when
            the server started).
        allow_configure: whether `configure_llm` may change models (off for remote clients
            unless explicitly enabled).
        allowed_commands: when set, `configure_llm` may only point a model (and its version
            command) at these executables (names found on PATH, or absolute paths), compared
            after resolving symlinks, and may not set environment variables that make an
            executable load other code (PATH, LD_*, PYTHON*, NODE_OPTIONS, ...). None: any.
        allowed_roots: directories under which a call's ``cwd`` must lie (compared as real
            paths, so a symlink cannot lead out); None: any directory; empty: no call may
            choose its directory (`llminst serve` over HTTP without roots).
        coalesce_s / coalesce_bytes: streamed text is sent at most every `coalesce_s` seconds,
            or sooner once `coalesce_bytes` (UTF-8 bytes) are pending, so a fast CLI cannot
            flood the client.
        keepalive_s: a progress notification is sent at least this often while a CLI is silent.
        store: where every call is recorded; its opener (``llminst serve``) closes it after
            the server. None: an in-memory store of the server's own.
        keep_prompts: record each call's prompt in the store.
        budget: spending limits over every model (``[budget]``).
        max_result_chars: output characters one tool result carries at most; the rest is read
            in pieces (`get_llm_result`, the output resource). See `_core.paging`.
        finish_jobs_on_close: when the server's client goes away (stdio: its stdin closes),
            let running jobs (`start_llm`) finish before the server closes, so a later client
            of the same store reads their results; a signal still ends them at once.
        background: a task run with the server's supervisor for the server's whole life
            (``llminst serve --worker`` takes batch items with it), cancelled as it stops.
        max_result_tokens: the token cap of one result text (Claude Code's
            ``MAX_MCP_OUTPUT_TOKENS``); None: that variable of the server's environment, else
            Claude Code's default, 25,000.
    """

    models: Mapping[str, ModelSpec]
    settings: Settings = Factory(Settings)
    backoff: BackoffPolicy = Factory(BackoffPolicy)
    base_env: Mapping[str, str] | None = None
    allow_configure: bool = True
    allowed_commands: tuple[str, ...] | None = None
    allowed_roots: tuple[str, ...] | None = None
    coalesce_s: float = 0.05
    coalesce_bytes: int = 4096
    keepalive_s: float = 10.0
    store: CallStore | None = None
    keep_prompts: bool = True
    budget: BudgetSettings = Factory(BudgetSettings)
    max_result_chars: int = DEFAULT_MAX_RESULT_CHARS
    max_result_tokens: int | None = None
    finish_jobs_on_close: bool = False
    background: Callable[[Supervisor], Awaitable[None]] | None = None


@frozen
class ServerState:
    """The supervisor the lifespan opened, the options the server was built with, and the
    result cap they come to."""

    supervisor: Supervisor
    options: ServerOptions
    result_cap: ResultCap = Factory(ResultCap)


def state_of(ctx: Context) -> ServerState:
    """The server's state, from a tool's context."""
    state = ctx.request_context.lifespan_context
    assert isinstance(state, ServerState)
    return state
