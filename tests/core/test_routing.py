"""Routing decisions without processes or Redis (`_core.routing`): which turns go to another
host, the options that rebuild a request there, and the result or error a routed call gives."""

from __future__ import annotations

import pytest

from llminst._core.builtins import BUILTIN_MODELS
from llminst._core.errors import CallTimeoutError, LLMError, RateLimitedError
from llminst._core.records import CallRecord, CallState, SessionRecord, Turn
from llminst._core.result import CallResult
from llminst._core.routing import owner_host, remote_outcome, routed_options
from llminst.supervisor.options import CallOptions, request_for

CLAUDE = BUILTIN_MODELS["claude"]
TURNS = (
    Turn(role="user", text="hi", model="claude"),
    Turn(role="assistant", text="hello", model="claude"),
)
MADE_ON_A = SessionRecord(
    name="s",
    model="claude",
    created_at=1.0,
    updated_at=1.0,
    cli_session_id="sid",
    cli_model="claude",
    cli_host="a",
    turns=TURNS,
)


def test_a_turn_goes_to_the_host_holding_a_resumable_cli_session() -> None:
    assert owner_host(MADE_ON_A, CLAUDE, host="b") == "a"
    assert owner_host(MADE_ON_A, CLAUDE, host="a") is None  # made here: resume here


@pytest.mark.parametrize(
    ("session", "model"),
    [
        (None, "claude"),  # nothing to continue
        (MADE_ON_A.evolve(cli_session_id=None), "claude"),  # no CLI session kept
        (MADE_ON_A.evolve(cli_host=None), "claude"),  # recorded before hosts were: resume here
        (MADE_ON_A, "gpt-4"),  # another model's CLI session: replayed anywhere
        (MADE_ON_A, "echo"),  # a CLI without resume: replayed anywhere
    ],
)
def test_other_turns_run_where_they_arrive(session: SessionRecord | None, model: str) -> None:
    assert owner_host(session, BUILTIN_MODELS[model], host="b") is None


@pytest.mark.parametrize(
    "options",
    [
        CallOptions(session="s"),
        CallOptions(session="s", timeout=42.0, system_prompt="be brief", fallbacks=["echo"]),
        CallOptions(session="s", json_mode=True, json_schema={"type": "object"}),
        CallOptions(session="s", cli_streaming=True, fallbacks=[]),
    ],
)
def test_the_routed_options_rebuild_the_same_request(options: CallOptions) -> None:
    request = request_for(BUILTIN_MODELS, "claude", "hi", options, allowed_roots=None)
    rebuilt = request_for(
        BUILTIN_MODELS, "claude", "hi", CallOptions(**routed_options(request)), allowed_roots=None
    )
    assert rebuilt == request


def _record(state: CallState, result: CallResult | None, **fields: object) -> CallRecord:
    # as the recorder keeps it: the result without its output
    summary = (
        None if result is None else {k: v for k, v in result.to_dict().items() if k != "output"}
    )
    return CallRecord(
        call_id="c1", model="claude", state=state, created_at=1.0, result=summary, **fields
    )


def _result(**fields: object) -> CallResult:
    base: dict[str, object] = {
        "model": "claude",
        "output": "",
        "success": True,
        "exit_code": 0,
        "attempts": 1,
        "duration_s": 1.0,
        "timeout_s": 60.0,
        "timeout_category": "normal",
        "call_id": "c1",
    }
    return CallResult(**{**base, **fields})  # type: ignore[arg-type]


def test_a_routed_success_is_the_owners_result_with_its_output() -> None:
    result, error = remote_outcome(_record(CallState.SUCCEEDED, _result()), "answer", host="a")
    assert error is None and result == _result(output="answer")


@pytest.mark.parametrize(
    ("kind", "cls"),
    [("timeout", CallTimeoutError), ("rate_limited", RateLimitedError), ("odd", LLMError)],
)
def test_a_routed_failure_raises_the_error_class_of_its_kind(kind: str, cls: type) -> None:
    failed = _result(success=False, error_kind=kind, error=f"{kind}: it failed", exit_code=1)
    result, error = remote_outcome(_record(CallState.FAILED, failed), "part", host="a")
    assert type(error) is cls and str(error) == f"{kind}: it failed"
    assert error.result == result and result is not None and result.output == "part"
    if isinstance(error, CallTimeoutError):
        assert error.timeout_s == 60.0


def test_a_turn_the_owner_refused_before_it_ran_fails_with_its_kind() -> None:
    record = _record(CallState.FAILED, None, error_kind="unknown_model", error="unknown model")
    result, error = remote_outcome(record, "", host="a")
    assert result is None and error is not None and error.kind == "unknown_model"


def test_a_turn_whose_owner_died_is_interrupted_with_its_partial_output() -> None:
    record = _record(CallState.INTERRUPTED, None, attempts=1, session="s")
    result, error = remote_outcome(record, "partial", host="a")
    assert error is not None and error.kind == "interrupted"
    assert str(error).startswith("interrupted: the replica on host 'a'")
    assert "not replayed" in str(error)
    assert result is not None and result.output == "partial" and not result.success
    assert error.result is result
