"""Sessions: how a call continues a conversation, and the conversation it leaves behind.

A session is a name the caller picks (`check_session_name`). Before a call, `plan_continuation`
decides from the stored `SessionRecord` how the CLI learns the conversation so far: `Resume`
(the CLI's own resume flag, when the session's CLI session belongs to this very model and was
made on this very host, whose disk keeps the CLI's resume state) or `Replay` (the transcript,
for a CLI without one, when the session moved to another model, or when this call runs on
another replica than the one whose CLI made the session).
A replayed transcript reaches the CLI as messages in its argv (`history_argv`, for a spec with
``history_args``: the openai CLI's ``-g ROLE TEXT``) or as a block before the prompt
(`transcript_prompt`: ollama, llm, any custom model). After a successful call,
`next_session` is the record with the new turns and the CLI's session id.

Pure: no trio, no store, no clock (callers pass the time in). What it must never do: decide
anything about a failed call (a failed call adds no turns; the caller simply does not record it).
"""

from __future__ import annotations

import re
from typing import Any

from attrs import frozen

from .errors import InvalidInputError
from .records import SessionRecord, Turn
from .spec import ModelSpec

__all__ = [
    "SESSION_NAME_MAX",
    "Continuation",
    "Replay",
    "Resume",
    "check_session_name",
    "history_argv",
    "next_session",
    "plan_continuation",
    "session_summary",
    "transcript_prompt",
]

SESSION_NAME_MAX = 200
_SESSION_NAME = re.compile(r"[A-Za-z0-9._:-]+")
_ROLE_PLACEHOLDER = "{role}"
_TEXT_PLACEHOLDER = "{text}"


@frozen
class Resume:
    """Continue with the CLI's own session: its resume args with this id."""

    session_id: str


@frozen
class Replay:
    """The CLI has no session to continue: give it these earlier turns."""

    turns: tuple[Turn, ...]


Continuation = Resume | Replay


def check_session_name(name: object) -> str:
    """`name` if it is a valid session name.

    Raises:
        InvalidInputError: not a string of 1 to 200 characters of letters, digits, ``._:-``.
    """
    if not isinstance(name, str):
        raise InvalidInputError(
            f"session must be a string (a name you pick, such as review-42), got "
            f"{type(name).__name__}"
        )
    if not name or len(name) > SESSION_NAME_MAX or not _SESSION_NAME.fullmatch(name):
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise InvalidInputError(
            f"session name {shown!r} is not valid: use 1 to {SESSION_NAME_MAX} characters of "
            "letters, digits, '.', '_', ':' or '-' (such as review-42)"
        )
    return name


def plan_continuation(
    session: SessionRecord | None, spec: ModelSpec, *, host: str
) -> Continuation | None:
    """How a call of `spec` on `host` continues `session`; None when there is nothing to continue.

    A CLI resumes from state on the disk of the machine that made its session (claude's
    ``~/.claude/projects``), so only a call on that host resumes; one on another host replays
    the transcript. A session whose host is unknown (recorded before hosts were) resumes.
    """
    if session is None or not session.turns:
        return None
    resumable = spec.resume_args and session.cli_model == spec.name
    same_host = session.cli_host is None or session.cli_host == host
    if resumable and same_host and session.cli_session_id:
        return Resume(session.cli_session_id)
    return Replay(session.turns)


def transcript_prompt(turns: tuple[Turn, ...], prompt: str) -> str:
    """`prompt` after the conversation so far, for a CLI that only takes a prompt."""
    lines = [
        "This message continues an earlier conversation. The conversation so far:",
        "",
        "<conversation>",
    ]
    for turn in turns:
        lines += [f"<{turn.role}>", turn.text, f"</{turn.role}>"]
    lines += ["</conversation>", "", "Reply to this new message from the user:", "", prompt]
    return "\n".join(lines)


def history_argv(history_args: tuple[str, ...], turns: tuple[Turn, ...]) -> list[str]:
    """`history_args` once per turn, ``{role}`` and ``{text}`` filled in (oldest first)."""
    argv: list[str] = []
    for turn in turns:
        for part in history_args:
            argv.append(
                part.replace(_ROLE_PLACEHOLDER, turn.role)
                if part != _TEXT_PLACEHOLDER
                else turn.text
            )
    return argv


def next_session(
    session: SessionRecord | None,
    *,
    name: str,
    model: str,
    spec: ModelSpec,
    prompt: str,
    answer: str,
    cli_session_id: str | None,
    call_id: str | None,
    now: float,
    host: str,
    owner: str | None = None,
) -> SessionRecord:
    """The session after a successful call of `model` (`spec`) on `host` answered `prompt`
    with `answer`.

    The CLI's session id is kept only for a spec that can resume it, with the host whose disk
    now holds its state; a call of a model that cannot leaves none, so the next call replays
    the transcript, whichever model makes it, wherever it runs.
    """
    turns = (
        Turn(role="user", text=prompt, model=model, call_id=call_id),
        Turn(role="assistant", text=answer, model=model, call_id=call_id),
    )
    resumable_id = cli_session_id if spec.resume_args else None
    if session is None:
        session = SessionRecord(name=name, model=model, created_at=now, updated_at=now, owner=owner)
    return session.evolve(
        model=model,
        cli_session_id=resumable_id,
        cli_model=spec.name if resumable_id else None,
        cli_host=host if resumable_id else None,
        turns=(*session.turns, *turns),
        updated_at=now,
    )


def session_summary(session: SessionRecord) -> dict[str, Any]:
    """A session as lists show it: its transcript reduced to the number of turns."""
    return {
        "name": session.name,
        "model": session.model,
        "turns": len(session.turns),
        "cli_model": session.cli_model,
        "cli_session_id": session.cli_session_id,
        "cli_host": session.cli_host,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
    }
