"""How a call ends: each attempt classified as ok, a rate-limit hit or an error, the error
messages, and the `CallResult`.

`succeeded` says whether an attempt answered; `classify_failure` reads one that did not (its
`AttemptOutput`: exit code, error notices, stderr) against the model's patterns: credentials,
the spec's error hints, rate limits, an unreachable API, or a plain failure, each with a
message that quotes what the CLI said and names the fix. `timeout_error`, `rate_limited_error`
and the other constructors word the errors a call can end with; `call_result` assembles the
`CallResult`, and `attach_result` gives an error its result (the one place that happens).
`finish` turns a successful attempt into the result, extracting and validating JSON in JSON
mode.

Pure: the current time and time zone are passed in. What it must never do: decide anything
about processes, or drop what the CLI said (an error's message and result carry it).
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterable
from datetime import tzinfo
from typing import Any

from attrs import frozen

from .backoff import RetryDecision
from .errors import (
    ApiUnreachableError,
    CallTimeoutError,
    CredentialsMissingError,
    LLMError,
    ProcessFailedError,
    RateLimitedError,
)
from .fallbacks import PassedOver
from .jsonmode import extract_json
from .ledger import cost_of
from .output import AttemptOutput
from .ratelimit import RateLimitHit, detect_rate_limit
from .repeated_errors import RepeatedError, RepeatedErrorKind
from .request import CallRequest
from .result import CallResult
from .spec import GENERIC_UNREACHABLE_PATTERNS, ModelSpec

__all__ = [
    "CallFacts",
    "attach_result",
    "call_result",
    "cancelled_error",
    "classify_failure",
    "finish",
    "internal_error",
    "rate_limited_error",
    "shutdown_error",
    "succeeded",
    "timeout_error",
]


@frozen(kw_only=True)
class CallFacts:
    """What a call's result is made of besides its last attempt's output.

    Attributes:
        request: the call.
        attempts: how many processes were started.
        duration_s: how long the call has run, backoff sleeps included.
        passed_over: the models tried before `request`'s and passed over (fallbacks).
        peak_rss_mb: the largest process-tree RSS measured (MB), None if not measured.
        call_id: the supervisor's id of the call (None outside a supervisor).
    """

    request: CallRequest
    attempts: int
    duration_s: float
    passed_over: tuple[PassedOver, ...] = ()
    peak_rss_mb: float | None = None
    call_id: str | None = None


# --------------------------------------------------------------------------------------------
# One attempt


def succeeded(output: AttemptOutput) -> bool:
    """The attempt answered: it exited 0, reported no error result and was not stopped."""
    failed_by_cli = output.final is not None and output.final.is_error
    return output.stopped is None and output.exit_code == 0 and not failed_by_cli


def classify_failure(
    request: CallRequest, output: AttemptOutput, *, now: float, tz: tzinfo
) -> LLMError | RateLimitHit:
    """What an attempt that did not succeed (`succeeded`) came to: a `RateLimitHit` to retry
    after, or the error to raise.

    Checked in order: an early stop for a repeated error; credentials patterns; the spec's
    error hints; rate limits (patterns in what the CLI said, and its own rate-limit notices);
    unreachable-API patterns in the failure's cause; else a plain process failure.

    Args:
        request: the call.
        output: what the attempt produced, its exit code set.
        now: the current time (epoch seconds), for reset times in rate-limit messages.
        tz: this machine's time zone (CLIs print reset times like "resets 1am" in local time).
    """
    spec = request.spec
    if output.stopped is not None:
        return _repeated_error(request.model, spec, output, output.stopped)
    said = output.diagnostics()
    auth = _first_match(spec.auth_patterns, said)
    if auth is not None:
        return CredentialsMissingError(
            f"model {request.model!r}: the CLI reports missing or invalid credentials "
            f"({auth!r}).{_auth_fix(spec)}"
        )
    for pattern, fix in spec.error_hints.items():
        line = _first_match((pattern,), said)
        if line is not None:
            return ProcessFailedError(
                f"model {request.model!r}: the CLI failed: {line!r}. Fix: {fix}.",
                exit_code=output.exit_code,
                stderr_tail=output.stderr_tail(),
            )
    hit = _rate_limit(spec, output, said, now=now, tz=tz)
    if hit is not None:
        return hit
    if _first_match(spec.unreachable_patterns, output.failure_cause()) is not None:
        return ApiUnreachableError(
            f"{_failure_message(request.model, output)}\n"
            f"That suggests the CLI cannot reach its API: {_unreachable_fix(spec)}.",
            exit_code=output.exit_code,
            stderr_tail=output.stderr_tail(),
        )
    return ProcessFailedError(
        _failure_message(request.model, output),
        exit_code=output.exit_code,
        stderr_tail=output.stderr_tail(),
    )


def _rate_limit(
    spec: ModelSpec, output: AttemptOutput, said: str, *, now: float, tz: tzinfo
) -> RateLimitHit | None:
    hit = detect_rate_limit(said, spec.rate_limit_patterns, now=now, tz=tz)
    limited = [n for n in output.notices if n.rate_limited]
    if not limited:
        return hit
    # The CLI's own structured notices carry the most precise hints. A reset time stays true
    # after later notices (claude's rate_limit_event with resetsAt, then a 429 result saying
    # only that it gave up), so the newest one given counts; a delay was the CLI's wait
    # before its own retry, already spent, so only the last notice's counts.
    delay_s = limited[-1].delay_s
    reset_at = _newest(n.reset_at for n in limited)
    return RateLimitHit(
        pattern=hit.pattern if hit else "cli notice",
        excerpt=hit.excerpt if hit else limited[-1].message[:200],
        retry_after_s=delay_s if delay_s is not None else (hit.retry_after_s if hit else None),
        reset_at=reset_at if reset_at is not None else (hit.reset_at if hit else None),
    )


def _newest(values: Iterable[float | None]) -> float | None:
    """The last of `values` that is not None."""
    found = None
    for value in values:
        if value is not None:
            found = value
    return found


def _repeated_error(
    model: str, spec: ModelSpec, output: AttemptOutput, found: RepeatedError
) -> LLMError:
    """The error for an attempt ended early because its CLI kept repeating `found`."""
    where = "on stderr" if found.source == "stderr" else "in its output"
    credentials = found.kind is RepeatedErrorKind.CREDENTIALS
    head = (
        f"model {model!r}: stopped the CLI after it printed the same "
        f"{'credentials' if credentials else 'connection'} error {found.count} times {where} "
        f"without answering: {found.line!r}."
    )
    if credentials:
        return CredentialsMissingError(head + _auth_fix(spec))
    return ApiUnreachableError(
        f"{head} It cannot reach its API: {_unreachable_fix(spec)}.",
        exit_code=output.exit_code,
        stderr_tail=output.stderr_tail(),
    )


# --------------------------------------------------------------------------------------------
# How a call ends


def rate_limited_error(
    request: CallRequest, hit: RateLimitHit, decision: RetryDecision, attempt: int
) -> RateLimitedError:
    """The error of a call that gives up on a rate limit after `attempt` attempts."""
    return RateLimitedError(
        f"model {request.model!r} is rate limited ({hit.excerpt!r}) after "
        f"{attempt} attempt(s): {decision.reason}",
        reset_at=decision.reset_at,
    )


def timeout_error(
    request: CallRequest, output: AttemptOutput | None, attempts: int
) -> CallTimeoutError:
    """The error of a call whose deadline passed during attempt `attempts` (or before one)."""
    seconds = request.timeout.seconds
    return CallTimeoutError(
        f"model {request.model!r} timed out after {seconds:g} s "
        f"(category {request.timeout.category}, attempt {attempts})"
        + _timeout_advice(request.spec, output),
        timeout_s=seconds,
    )


def cancelled_error(why: str | None = None) -> LLMError:
    """The error of a call its caller cancelled (left the stream's block, or was cancelled),
    or someone else did (`why` says who)."""
    return LLMError(why or "the caller cancelled the call")


def shutdown_error() -> LLMError:
    """The error of a call cut short because its supervisor closed."""
    return LLMError("the supervisor shut down before the call finished")


def internal_error(exc: Exception) -> LLMError:
    """The error of a call that failed on a bug in llminst."""
    return LLMError(f"internal error in llminst: {exc!r}; please report it")


def _timeout_advice(spec: ModelSpec, output: AttemptOutput | None) -> str:
    """The end of a timeout message: the partial output, or, when no answer came, what the
    CLI said instead and what that suggests (a larger timeout does not fix a dead network)."""
    partial = output.text if output is not None else ""
    said = _what_it_said(output) if output is not None else ""
    if output is None or partial.strip() or not said:
        return (
            f"; {len(partial)} characters of partial output are in the result. "
            "Pass a larger timeout, or ask for a shorter answer."
        )
    errors = output.error_text()
    auth = _first_match(spec.auth_patterns, errors)
    # Advice only, so the common wordings count too (codex's spec leaves out its WebSocket
    # line to avoid stopping early, yet after a whole timeout of it the network is the suspect).
    unreachable = _first_match((*spec.unreachable_patterns, *GENERIC_UNREACHABLE_PATTERNS), errors)
    if auth is not None:
        advice = (
            f"That suggests missing or invalid credentials ({auth!r}); a larger timeout "
            f"will not help.{_auth_fix(spec)}"
        )
    elif unreachable is not None:
        advice = (
            f"That suggests the CLI cannot reach its API ({unreachable!r}); a larger timeout "
            f"will not help: {_unreachable_fix(spec)}."
        )
    else:
        advice = "If that is an error, fix its cause; otherwise pass a larger timeout."
    return f" before any answer text arrived; {said}\n{advice}"


# --------------------------------------------------------------------------------------------
# The result


def finish(facts: CallFacts, output: AttemptOutput) -> CallResult:
    """The result of a call whose last attempt succeeded.

    Raises:
        LLMError: JSON mode found no JSON, or none that matches the schema (without a result:
            `attach_result` gives it one).
    """
    schema = facts.request.schema
    parsed = None if schema is None else extract_json(output.text, schema)
    return call_result(facts, output, parsed_json=parsed)


def call_result(
    facts: CallFacts,
    output: AttemptOutput | None,
    *,
    error: LLMError | None = None,
    parsed_json: Any = None,
) -> CallResult:
    """The `CallResult` of a call: successful unless `error` is given."""
    request = facts.request
    final = output.final if output is not None else None
    usage = final.usage if final else None
    cost_usd, cost_source = cost_of(final.cost_usd if final else None, usage, request.spec)
    return CallResult(
        model=request.model,
        output=output.text if output is not None else "",
        success=error is None,
        exit_code=output.exit_code if output is not None else None,
        attempts=facts.attempts,
        duration_s=round(facts.duration_s, 6),
        timeout_s=request.timeout.seconds,
        timeout_category=request.timeout.category,
        parsed_json=parsed_json,
        usage=usage,
        cost_usd=cost_usd,
        cost_source=cost_source,
        session_id=final.session_id if final else None,
        session=request.session,
        stderr_tail=output.stderr_tail() if output is not None else "",
        truncated=output.truncated if output is not None else False,
        error=error.message if error else None,
        error_kind=error.kind if error else None,
        fallback_chain=[step.to_dict() for step in facts.passed_over],
        peak_rss_mb=facts.peak_rss_mb,
        call_id=facts.call_id,
    )


def attach_result(error: LLMError, facts: CallFacts, output: AttemptOutput | None) -> LLMError:
    """Give `error` the result of the call it ended (unless it has one); returns it."""
    if error.result is None:
        error.result = call_result(facts, output, error=error)
    return error


# --------------------------------------------------------------------------------------------
# Wording


def _first_match(patterns: tuple[str, ...], text: str) -> str | None:
    """The line (stripped, at most 200 characters) of the first pattern that matches."""
    for pattern in patterns:
        match = re.search(pattern, text, re.IGNORECASE)
        if match:
            line_start = text.rfind("\n", 0, match.start()) + 1
            line_end = text.find("\n", match.end())
            return text[line_start : line_end if line_end != -1 else None].strip()[:200]
    return None


def _failure_message(model: str, output: AttemptOutput) -> str:
    """How the CLI ended and what it said, each piece labelled with where it came from."""
    said = _what_it_said(output)
    detail = f"; {said}" if said else "; it printed nothing on stderr and reported no error"
    return f"model {model!r}: the CLI {_how_it_ended(output)}{detail}"


def _how_it_ended(output: AttemptOutput) -> str:
    code = output.exit_code
    if code is not None and code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    final = output.final
    if final is not None and final.is_error:
        # claude marks API failures "subtype: success, is_error: true": no such label.
        subtype = final.subtype or ""
        label = f" ({subtype})" if subtype.lower() not in ("", "success", "error") else ""
        return f"reported a failure{label} with exit code {code}"
    return f"exited with code {code}"


def _what_it_said(output: AttemptOutput) -> str:
    """The CLI's own structured error first (it names the cause), then the end of stderr."""
    pieces = []
    reported = output.reported_error()
    if reported is not None:
        where, text = reported
        pieces.append(f"{where}: {_last_lines(text)}")
    tail = output.stderr_tail().strip()
    if tail:
        pieces.append(f"stderr ends with:\n{_last_lines(tail)}")
    return "; ".join(pieces)


def _last_lines(text: str, count: int = 10, limit: int = 2000) -> str:
    return "\n".join(text.strip().splitlines()[-count:])[-limit:]


def _auth_fix(spec: ModelSpec) -> str:
    return f" Fix: {spec.auth_hint}." if spec.auth_hint else ""


def _unreachable_fix(spec: ModelSpec) -> str:
    return spec.unreachable_hint or (
        "check the network, the CLI's API base URL and any proxy (HTTPS_PROXY)"
    )
