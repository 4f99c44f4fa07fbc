"""What the call store keeps: `CallRecord` (one call, any origin), `SessionRecord` (a conversation).

A record is plain, frozen data that every store backend (memory, SQLite, later Redis) keeps and
returns alike; the output text of a call is kept beside its record (appended as it streams) and
read by character offset, so it is not a field here. Times are Unix seconds (wall clock), since
records outlive the process that wrote them.

Pure: no trio, no file, no clock (callers pass the times in). What it must never do: hold a
secret (a caller's HTTP token is kept only as the `owner` fingerprint the server derives).
"""

from __future__ import annotations

import enum
import hashlib
from typing import Any

import attrs
from attrs import frozen

__all__ = ["CallOrigin", "CallRecord", "CallState", "SessionRecord", "Turn", "token_owner"]


def token_owner(token: str) -> str:
    """The owner an HTTP token stands for: the first 16 hex digits of its SHA-256 (the token
    itself is never kept)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class CallState(enum.StrEnum):
    """Where a call is in its life."""

    QUEUED = "queued"
    """Accepted, waiting for a slot of its model's concurrency limit."""
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    """Its caller (or `cancel_llm`) ended it; the output so far is kept."""
    INTERRUPTED = "interrupted"
    """The process that ran it died before it ended (found so at the next start)."""

    @property
    def done(self) -> bool:
        return self not in (CallState.QUEUED, CallState.RUNNING)


class CallOrigin(enum.StrEnum):
    """Who asked for the call."""

    MCP = "mcp"
    RUN = "run"  # `llminst run`
    LIBRARY = "library"
    BATCH = "batch"  # `llminst batch` / `llminst worker`


@frozen(kw_only=True)
class CallRecord:
    """One call as the store keeps it.

    Attributes:
        call_id: the supervisor's id for the call (unique per store).
        model: the model name as the caller gave it (``claude:sonnet``).
        state: see `CallState`.
        origin: who asked for it.
        created_at / started_at / finished_at: Unix seconds (started: its first attempt).
        attempts: processes started so far.
        exit_code: the last attempt's exit code, once it exited.
        error_kind / error: the failure's kind and message, when it failed.
        usage / cost_usd / cli_session_id: what the CLI reported.
        session: the llminst session the call belongs to, if any.
        cwd: the directory the CLI ran in (None: the server's own).
        prompt: the prompt, unless the store was told not to keep prompts.
        owner: who may see the call over HTTP (a token fingerprint; None: local, anyone).
        writer: the process recording the call (``host:pid:start``), so a later start can tell
            a call whose writer died (interrupted) from one another process is still running.
        output_chars: characters of output stored so far.
        result: the whole `CallResult.to_dict()` without its ``output``, once done.
    """

    call_id: str
    model: str
    state: CallState
    origin: CallOrigin = CallOrigin.LIBRARY
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    exit_code: int | None = None
    error_kind: str | None = None
    error: str | None = None
    usage: dict[str, Any] | None = None
    cost_usd: float | None = None
    cli_session_id: str | None = None
    session: str | None = None
    cwd: str | None = None
    prompt: str | None = None
    owner: str | None = None
    writer: str | None = None
    output_chars: int = 0
    result: dict[str, Any] | None = None

    def evolve(self, **changes: Any) -> CallRecord:
        return attrs.evolve(self, **changes)


@frozen(kw_only=True)
class Turn:
    """One message of a conversation: the user's prompt or the model's answer."""

    role: str  # "user" or "assistant"
    text: str
    model: str
    call_id: str | None = None


@frozen(kw_only=True)
class SessionRecord:
    """A conversation that later calls continue.

    Attributes:
        name: the caller's name for it (or the id llminst made up).
        model: the model of its latest turn.
        cli_session_id: the CLI's own session (thread, conversation) id for `cli_model`, which a
            CLI with a resume flag continues; None when the CLI has none.
        cli_model: the base model (``claude``) `cli_session_id` belongs to; another model gets
            the transcript instead.
        cli_host: the machine (replica, container: its host name) whose CLI made
            `cli_session_id`: a CLI keeps its resume state on that machine's disk (claude's
            ``~/.claude/projects``), so a call on another host gets the transcript instead.
            None: unknown (a session recorded before llminst kept it), resumed anywhere.
        turns: the transcript, oldest first.
        created_at / updated_at: Unix seconds.
        owner: who may use it over HTTP (as `CallRecord.owner`).
    """

    name: str
    model: str
    cli_session_id: str | None = None
    cli_model: str | None = None
    cli_host: str | None = None
    turns: tuple[Turn, ...] = ()
    created_at: float
    updated_at: float
    owner: str | None = None

    def evolve(self, **changes: Any) -> SessionRecord:
        return attrs.evolve(self, **changes)
