"""Routing a session's turn to the host that holds its CLI's resume state: the pure decisions.

A CLI that resumes from its own disk (claude's ``~/.claude/projects``) can continue a session
only on the host that made it (`SessionRecord.cli_host`). `owner_host` says whether a turn
arriving on another host should run there; `routed_options` turns the call's request back into
the keyword arguments the owner builds the same request from; `remote_outcome` turns the
owner's stored record and output back into the `CallResult` or `LLMError` a local call gives.

The rule for an owner that dies mid-turn: the turn is ``interrupted`` (`interrupted_error`), and
it is NOT replayed elsewhere, because the owner's CLI may have recorded it already (a replay
could run the turn twice); the session's next turn finds the owner dead and replays.

Pure: no trio, no Redis, no clock. What it must never do: decide to route a turn whose CLI
cannot resume (it replays anywhere), or lose the output the owner recorded.
"""

from __future__ import annotations

from typing import Any

from . import errors
from .errors import LLMError
from .records import CallRecord, CallState, SessionRecord
from .request import CallRequest
from .result import CallResult
from .spec import ModelSpec

__all__ = ["interrupted_error", "owner_host", "remote_outcome", "routed_options"]


def owner_host(session: SessionRecord | None, spec: ModelSpec, *, host: str) -> str | None:
    """The host a turn of `spec` in `session` should run on, when that is not `host`: the one
    whose disk holds the CLI session it can resume; None when it runs here (nothing to resume,
    a CLI without resume, another model's CLI session, or made here)."""
    if session is None or not session.turns or not session.cli_session_id:
        return None
    if not spec.resume_args or session.cli_model != spec.name:
        return None
    if session.cli_host is None or session.cli_host == host:
        return None
    return session.cli_host


def routed_options(request: CallRequest) -> dict[str, Any]:
    """The `CallOptions` fields (JSON-ready) that rebuild `request` on another replica."""
    return {
        "timeout": request.timeout.seconds if request.timeout.category == "explicit" else None,
        "json_mode": request.json_mode,
        "json_schema": request.schema,
        "cli_streaming": request.cli_streaming,
        "system_prompt": request.system_prompt,
        "cwd": request.cwd,
        "fallbacks": [fallback.model for fallback in request.fallbacks],
        "session": request.session,
    }


def interrupted_error(host: str, result: CallResult | None = None) -> LLMError:
    """The error of a routed turn whose owner died before it ended (never replayed here)."""
    error = LLMError(
        f"interrupted: the replica on host {host!r} running this session turn stopped before "
        "it ended; its output so far is in the result. The turn is not replayed here (its CLI "
        "may have recorded it): check the session and send the next turn, which another "
        "replica replays while that host is down",
        result=result,
    )
    error.kind = "interrupted"
    return error


def remote_outcome(
    record: CallRecord, output: str, *, host: str
) -> tuple[CallResult | None, LLMError | None]:
    """The result and error (None: it succeeded) of an ended call `record` another replica
    ran on `host`, with its stored `output`."""
    summary = record.result
    result = None if summary is None else CallResult(**{**summary, "output": output})
    if record.state is CallState.SUCCEEDED and result is not None:
        return result, None
    if record.state is CallState.INTERRUPTED:
        error = interrupted_error(host)
        result = result or _interrupted_result(record, output, error)
        error.result = result
        return result, error
    kind = record.error_kind if result is None else result.error_kind
    message = (record.error if result is None else result.error) or "the call failed"
    return result, _error_of_kind(kind, message, result)


def _interrupted_result(record: CallRecord, output: str, error: LLMError) -> CallResult:
    """What a call whose writer died left: its output so far, as a failed result."""
    ended = record.finished_at or record.created_at
    return CallResult(
        model=record.model,
        output=output,
        success=False,
        exit_code=record.exit_code,
        attempts=record.attempts,
        duration_s=max(0.0, ended - (record.started_at or record.created_at)),
        timeout_s=0.0,
        timeout_category="unknown",
        session=record.session,
        error=error.message,
        error_kind=error.kind,
        call_id=record.call_id,
    )


def _error_of_kind(kind: str | None, message: str, result: CallResult | None) -> LLMError:
    """An error of the class whose ``kind`` is `kind` (the base class for any other kind),
    carrying `message` and `result` as the owner's error did."""
    cls = _ERROR_CLASSES.get(kind or "", LLMError)
    error = cls.__new__(cls)
    LLMError.__init__(error, message, result=result)
    # What the subclasses' own constructors set, from what the record kept.
    if isinstance(error, errors.RateLimitedError):
        error.reset_at = None
    if isinstance(error, errors.CallTimeoutError):
        error.timeout_s = result.timeout_s if result is not None else 0.0
    if isinstance(error, errors.JSONNotFoundError):
        error.raw_output = result.output if result is not None else ""
    return error


_ERROR_CLASSES: dict[str, type[LLMError]] = {
    cls.kind: cls
    for cls in (getattr(errors, name) for name in errors.__all__)
    if isinstance(cls, type) and issubclass(cls, LLMError)
}
