"""`_core.outcome`: every way an attempt and a call end, and the errors' wording, decided from an
`AttemptOutput` built by hand (no process). The same outcomes through real processes are in
test_supervisor.py, test_failures.py and test_capabilities.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest

from llminst import BUILTIN_MODELS
from llminst._core.backoff import RetryDecision
from llminst._core.errors import (
    ApiUnreachableError,
    CallTimeoutError,
    CredentialsMissingError,
    JSONNotFoundError,
    LLMError,
    ProcessFailedError,
    RateLimitedError,
)
from llminst._core.events import ErrorNotice, FinalResult, RetryNotice, TextDelta
from llminst._core.outcome import (
    CallFacts,
    attach_result,
    call_result,
    cancelled_error,
    classify_failure,
    finish,
    rate_limited_error,
    shutdown_error,
    succeeded,
    timeout_error,
)
from llminst._core.output import AttemptOutput
from llminst._core.ratelimit import RateLimitHit
from llminst._core.request import CallRequest, build_request
from llminst._core.result import CallResult
from llminst._core.spec import ModelSpec, Settings

SPEC = ModelSpec(
    name="cli",
    command=("cli",),
    auth_patterns=(r"not logged in",),
    auth_hint="run `cli login`",
    rate_limit_patterns=(r"rate limit",),
    unreachable_patterns=(r"connection refused",),
    unreachable_hint="start the local API server",
    error_hints={r"cannot be used with root": "set SANDBOX=1"},
)
NOW = datetime(2026, 11, 25, 0, 30, tzinfo=UTC).timestamp()


def request(**options: object) -> CallRequest:
    return build_request({"cli": SPEC}, model="cli", prompt="hi", timeout=30, **options)


def output(
    *,
    exit_code: int | None = 1,
    stderr: bytes = b"",
    events: tuple[object, ...] = (),
    repeats: int = 3,
) -> AttemptOutput:
    result = AttemptOutput.for_attempt(
        1, SPEC, Settings(stop_after_repeated_errors=repeats, stderr_tail_bytes=4096)
    )
    for event in events:
        result.receive_event(event)
    result.receive_stderr(stderr)
    result.exit_code = exit_code
    return result


def classify(attempt: AttemptOutput) -> LLMError | RateLimitHit:
    return classify_failure(request(), attempt, now=NOW, tz=UTC)


# --------------------------------------------------------------------------------------------
# One attempt


@pytest.mark.parametrize(
    ("exit_code", "events", "answered"),
    [
        (0, (), True),
        (0, (FinalResult("ok"),), True),
        (0, (FinalResult("API Error", is_error=True),), False),  # claude: exit 0, is_error
        (1, (TextDelta("text"),), False),
        (-15, (), False),
        (None, (), False),
    ],
)
def test_an_attempt_succeeded_only_on_exit_0_without_an_error_result(
    exit_code: int | None, events: tuple[object, ...], answered: bool
) -> None:
    """Exit 0 and no error result; anything else did not answer."""
    assert succeeded(output(exit_code=exit_code, events=events)) is answered


def test_a_stopped_attempt_did_not_succeed_even_if_it_exited_0() -> None:
    """An early stop wins over the exit code (a stopped CLI may exit 0 on SIGTERM)."""
    stopped = output(exit_code=0, stderr=b"connection refused\n" * 3)
    assert stopped.stopped is not None
    assert not succeeded(stopped)


def test_missing_credentials_name_the_line_and_the_fix() -> None:
    """An auth pattern anywhere in what the CLI said is a credentials error with the hint."""
    error = classify(output(stderr=b"Error: not logged in (token expired)\n"))
    assert isinstance(error, CredentialsMissingError)
    assert str(error) == (
        "model 'cli': the CLI reports missing or invalid credentials "
        "('Error: not logged in (token expired)'). Fix: run `cli login`."
    )


def test_an_error_hint_quotes_the_line_and_gives_its_fix() -> None:
    """A spec's error hint turns a matching line into a process failure with that fix."""
    error = classify(output(stderr=b"--danger cannot be used with root/sudo\n"))
    assert isinstance(error, ProcessFailedError) and error.exit_code == 1
    assert str(error) == (
        "model 'cli': the CLI failed: '--danger cannot be used with root/sudo'. Fix: set SANDBOX=1."
    )


def test_a_rate_limit_in_the_text_is_a_hit_with_its_hint() -> None:
    """A rate-limit line with 'retry after' is a hit to wait out, not an error."""
    hit = classify(output(stderr=b"429: rate limit exceeded, retry after 30 seconds\n"))
    assert isinstance(hit, RateLimitHit)
    assert hit.retry_after_s == 30.0 and "rate limit exceeded" in hit.excerpt


def test_a_reset_clock_time_is_read_in_the_time_zone_passed_in() -> None:
    """'resets 1am' is 01:00 in the given zone: NOW (00:30 UTC) is 01:30 in UTC+1, so there it
    is the next 1am, 23.5 hours away."""
    said = output(stderr=b"usage rate limit reached, resets 1am\n")
    in_utc = classify_failure(request(), said, now=NOW, tz=UTC)
    in_cet = classify_failure(request(), said, now=NOW, tz=timezone(timedelta(hours=1)))
    assert isinstance(in_utc, RateLimitHit) and isinstance(in_cet, RateLimitHit)
    assert in_utc.reset_at == NOW + 1800
    assert in_cet.reset_at == NOW + 23.5 * 3600


def test_the_clis_own_rate_limit_notice_gives_the_most_precise_hint() -> None:
    """A structured notice's delay and reset time win over what the text says."""
    notice = RetryNotice("limited", delay_s=12.0, reset_at=NOW + 99, rate_limited=True)
    hit = classify(output(stderr=b"rate limit, retry after 30 seconds\n", events=(notice,)))
    assert isinstance(hit, RateLimitHit)
    assert (hit.retry_after_s, hit.reset_at) == (12.0, NOW + 99)
    only_notice = classify(output(events=(notice,)))
    assert isinstance(only_notice, RateLimitHit)
    assert (only_notice.pattern, only_notice.excerpt) == ("cli notice", "limited")


def test_a_later_notice_without_hints_keeps_an_earlier_notices_reset_time() -> None:
    """claude prints a rate_limit_event with resetsAt, then a result with status 429 and no
    hint: the reset time still counts (the last notice alone lost it, so a five-hour limit
    rested the account 30 s and was retried at once). An earlier delay was claude's own
    retry, already spent: it is no hint for the next attempt."""
    notices = (
        RetryNotice("retrying", delay_s=0.5, rate_limited=True),
        RetryNotice("claude rate limit: rejected", reset_at=NOW + 7200.0, rate_limited=True),
        RetryNotice("claude gave up on an API rate limit (status 429)", rate_limited=True),
    )
    hit = classify(output(events=notices))
    assert isinstance(hit, RateLimitHit)
    assert (hit.retry_after_s, hit.reset_at) == (None, NOW + 7200.0)
    assert hit.excerpt == "claude gave up on an API rate limit (status 429)"


@pytest.mark.parametrize(
    ("text", "reset"),
    [
        ("You've hit your 5-hour limit · resets 2:21pm (UTC)", (14, 21)),  # claude 2.1.331
        ("You've hit your weekly Opus limit · resets 3am (UTC)", (3, 0)),
        ("You've hit your limit · resets 1am (UTC)", (1, 0)),
    ],
)
def test_claudes_limit_messages_are_rate_limits_with_their_reset(
    text: str, reset: tuple[int, int]
) -> None:
    """The built-in claude spec reads its limit messages, naming the limit or not."""
    claude = BUILTIN_MODELS["claude"]
    call = build_request({"claude": claude}, model="claude", prompt="hi", timeout=30)
    hit = classify_failure(call, output(stderr=f"{text}\n".encode()), now=NOW, tz=UTC)
    assert isinstance(hit, RateLimitHit) and hit.excerpt == text
    hour, minute = reset
    assert hit.reset_at == datetime(2026, 11, 25, hour, minute, tzinfo=UTC).timestamp()


def test_an_unreachable_api_names_the_cause_and_the_specs_fix() -> None:
    """Connection errors as the cause: ApiUnreachableError, message ending with the hint."""
    error = classify(output(stderr=b"fetch failed: connection refused\n"))
    assert isinstance(error, ApiUnreachableError) and error.exit_code == 1
    assert str(error) == (
        "model 'cli': the CLI exited with code 1; stderr ends with:\n"
        "fetch failed: connection refused\n"
        "That suggests the CLI cannot reach its API: start the local API server."
    )


def test_a_plain_failure_says_how_it_ended_and_what_it_said() -> None:
    """Killed by a signal, or an error result, each labelled with where it came from."""
    killed = classify(output(exit_code=-9))
    assert str(killed) == (
        "model 'cli': the CLI was killed by signal SIGKILL; "
        "it printed nothing on stderr and reported no error"
    )
    reported = classify(
        output(
            exit_code=1,
            events=(FinalResult("quota gone", is_error=True, subtype="error_during_execution"),),
            stderr=b"warning: old config\n",
        )
    )
    assert isinstance(reported, ProcessFailedError)
    assert str(reported) == (
        "model 'cli': the CLI reported a failure (error_during_execution) with exit code 1; "
        "the CLI's result line says: quota gone; stderr ends with:\nwarning: old config"
    )
    assert reported.stderr_tail == "warning: old config\n"


def test_an_error_notice_is_quoted_when_there_is_no_error_result() -> None:
    """codex's `turn.failed` and the like: the last notice, then stderr."""
    error = classify(output(exit_code=1, events=(ErrorNotice("first"), ErrorNotice("last"))))
    assert str(error) == (
        "model 'cli': the CLI exited with code 1; the CLI's last error notice says: last"
    )


@pytest.mark.parametrize(
    ("line", "kind", "ending"),
    [
        (
            b"connection refused\n",
            ApiUnreachableError,
            "cannot reach its API: start the local API server.",
        ),
        (b"not logged in\n", CredentialsMissingError, "Fix: run `cli login`."),
    ],
)
def test_a_stopped_attempt_says_what_was_repeated(
    line: bytes, kind: type[LLMError], ending: str
) -> None:
    """Stopped for a repeated line: which kind, how often, where, and the fix."""
    error = classify(output(exit_code=-15, stderr=line * 3))
    assert isinstance(error, kind)
    assert str(error).startswith(
        "model 'cli': stopped the CLI after it printed the same "
        f"{'credentials' if kind is CredentialsMissingError else 'connection'} error 3 times "
        f"on stderr without answering: {line.decode().strip()!r}."
    )
    assert str(error).endswith(ending)


# --------------------------------------------------------------------------------------------
# How a call ends


def test_a_timeout_with_partial_output_says_how_much_is_in_the_result() -> None:
    """Answer text arrived: the message counts it and suggests a larger timeout."""
    error = timeout_error(request(), output(events=(TextDelta("half an ans"),)), 2)
    assert isinstance(error, CallTimeoutError) and error.timeout_s == 30
    assert str(error) == (
        "model 'cli' timed out after 30 s (category explicit, attempt 2); 11 characters of "
        "partial output are in the result. Pass a larger timeout, or ask for a shorter answer."
    )


@pytest.mark.parametrize(
    ("stderr", "advice"),
    [
        (b"not logged in\n", "missing or invalid credentials ('not logged in')"),
        (b"getaddrinfo ENOTFOUND api.example\n", "cannot reach its API"),
        (b"still thinking\n", "If that is an error, fix its cause"),
    ],
)
def test_a_timeout_without_an_answer_says_what_the_cli_said_instead(
    stderr: bytes, advice: str
) -> None:
    """No answer: what the CLI said, and what that suggests (generic wordings count too)."""
    message = str(timeout_error(request(), output(exit_code=None, stderr=stderr), 1))
    assert f"before any answer text arrived; stderr ends with:\n{stderr.decode().strip()}" in (
        message
    )
    assert advice in message


def test_giving_up_on_a_rate_limit_names_the_excerpt_and_the_reason() -> None:
    """The error carries the reset time the decision knew."""
    hit = RateLimitHit("rate limit", "rate limit exceeded", None, NOW + 600)
    decision = RetryDecision(delay_s=None, reason="no attempts left", reset_at=NOW + 600)
    error = rate_limited_error(request(), hit, decision, 3)
    assert isinstance(error, RateLimitedError) and error.reset_at == NOW + 600
    assert str(error) == (
        "model 'cli' is rate limited ('rate limit exceeded') after 3 attempt(s): no attempts left"
    )


def test_cancellation_and_shutdown_are_worded_for_the_caller() -> None:
    assert str(cancelled_error()) == "the caller cancelled the call"
    assert str(shutdown_error()) == "the supervisor shut down before the call finished"


# --------------------------------------------------------------------------------------------
# The result


def test_a_result_carries_the_last_attempts_output_and_the_calls_facts() -> None:
    """Output, exit code, usage, tail and truncation come from the attempt; the rest from the
    call."""
    attempt = output(
        exit_code=0,
        events=(TextDelta("ok"), FinalResult("ok", usage={"t": 1}, cost_usd=0.5, session_id="s")),
        stderr=b"note\n",
    )
    facts = CallFacts(
        request=request(), attempts=2, duration_s=1.23456789, peak_rss_mb=12.5, call_id="c-1"
    )
    result = call_result(facts, attempt)
    assert result.to_dict() == {
        "model": "cli",
        "output": "ok",
        "success": True,
        "exit_code": 0,
        "attempts": 2,
        "duration_s": 1.234568,
        "timeout_s": 30.0,
        "timeout_category": "explicit",
        "parsed_json": None,
        "usage": {"t": 1},
        "cost_usd": 0.5,
        "cost_source": "cli",
        "session_id": "s",
        "session": None,
        "stderr_tail": "note\n",
        "truncated": False,
        "error": None,
        "error_kind": None,
        "fallback_chain": [],
        "peak_rss_mb": 12.5,
        "cached": False,
        "cached_call_id": None,
        "call_id": "c-1",
    }


def test_an_error_gets_its_result_once_and_keeps_one_it_has() -> None:
    """`attach_result` is the one place an error gets its result; a second call keeps it."""
    facts = CallFacts(request=request(), attempts=1, duration_s=0.5)
    error = ProcessFailedError("boom", exit_code=3)
    assert attach_result(error, facts, output(exit_code=3)) is error
    first = error.result
    assert first is not None and not first.success and first.error == "boom"
    assert (first.error_kind, first.exit_code) == ("process_failed", 3)
    attach_result(error, CallFacts(request=request(), attempts=9, duration_s=9), None)
    assert error.result is first


def test_a_call_that_never_started_a_process_has_an_empty_result() -> None:
    """No attempt output (e.g. timed out while queued): empty output, no exit code."""
    facts = CallFacts(request=request(), attempts=0, duration_s=0.1)
    result = call_result(facts, None, error=cancelled_error())
    assert (result.output, result.exit_code, result.stderr_tail) == ("", None, "")
    assert not result.success and result.error == "the caller cancelled the call"


def test_finish_extracts_json_in_json_mode() -> None:
    """JSON mode: the validated value is the result's parsed_json."""
    json_request = request(json_schema='{"type": "object"}')
    facts = CallFacts(request=json_request, attempts=1, duration_s=0.1)
    attempt = output(exit_code=0, events=(TextDelta('Sure: {"a": 1}'),))
    assert finish(facts, attempt).parsed_json == {"a": 1}


def test_finish_raises_the_json_error_without_a_result_for_attach_result_to_fill() -> None:
    """No JSON found: the error is raised bare; the call's one place gives it the result."""
    facts = CallFacts(request=request(json_mode=True), attempts=1, duration_s=0.1)
    attempt = output(exit_code=0, events=(TextDelta("no json here"),))
    with pytest.raises(JSONNotFoundError) as info:
        finish(facts, attempt)
    assert info.value.result is None
    attach_result(info.value, facts, attempt)
    assert info.value.result is not None and info.value.result.output == "no json here"
    assert info.value.result.error_kind == "json_not_found"


def test_a_results_dict_is_what_attrs_asdict_gives() -> None:
    """`CallResult.to_dict` (built without asdict's introspection, once a call by the
    recorder) equals `attrs.asdict`: every field, nested containers copied, their types kept."""
    result = CallResult(
        model="echo",
        output="ok",
        success=True,
        exit_code=0,
        attempts=1,
        duration_s=0.5,
        timeout_s=60.0,
        timeout_category="quick",
        parsed_json={"k": [1, {"z": (3, None)}], "s": "x"},
        usage={"input_tokens": 3, "nested": {"pair": (1, 2)}},
        fallback_chain=[{"model": "a", "started": True}],
    )
    plain = result.to_dict()
    assert plain == attrs.asdict(result) and repr(plain) == repr(attrs.asdict(result))
    assert result.usage is not None and result.parsed_json is not None
    assert plain["usage"] is not result.usage
    assert plain["usage"]["nested"] is not result.usage["nested"]
    assert plain["fallback_chain"][0] is not result.fallback_chain[0]
    assert plain["parsed_json"]["k"] is not result.parsed_json["k"]
