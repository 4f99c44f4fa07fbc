"""The claude decoder over real recorded output (tests/fixtures/claude/*.jsonl).

The fixtures are the raw stdout of claude-code 2.1.331 (``-p --output-format stream-json
--verbose``) against the fake Anthropic API, recorded by tests/clis/test_realcli_claude.py with
``LLMINST_REALCLI_RECORD=1`` (HOME, port and cwd replaced by placeholders). Fast, no CLI needed.
"""

from __future__ import annotations

import json
from datetime import UTC

import pytest

from llminst._core.builtins import BUILTIN_MODELS
from llminst._core.events import ErrorNotice, FinalResult, RetryNotice, TextDelta
from llminst._core.outcome import classify_failure
from llminst._core.output import AttemptOutput
from llminst._core.ratelimit import RateLimitHit, detect_rate_limit
from llminst._core.request import build_request
from llminst._core.spec import Settings

from ..support.recordings import CLAUDE_FIXTURES, decode, load_fixture

NAMES = sorted(p.stem for p in CLAUDE_FIXTURES.glob("*.jsonl"))


def test_every_scenario_is_recorded() -> None:
    assert set(NAMES) >= {
        "plain",
        "stream",
        "json_native",
        "rate_limit_429",
        "usage_limit",
        "limit_reset_oauth",
        "server_error_500",
        "not_logged_in",
    }


@pytest.mark.parametrize("name", NAMES)
def test_chunking_does_not_change_the_events(name: str) -> None:
    """Fed one byte at a time or all at once, a real output decodes the same."""
    data = load_fixture(name)
    assert decode(data, chunk=1) == decode(data, chunk=len(data))


def test_plain_answer() -> None:
    """Text from the assistant block, once; usage, cost and session id from the result."""
    events = decode(load_fixture("plain"))
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert texts == ["Echo: hello from llminst"]
    final = events[-1]
    assert isinstance(final, FinalResult) and not final.is_error
    assert final.text == "Echo: hello from llminst" and final.subtype == "success"
    assert final.cost_usd is not None and final.cost_usd > 0
    assert final.session_id and final.usage and final.usage["input_tokens"] == 12


def test_streamed_deltas_are_not_duplicated_by_the_assistant_line() -> None:
    """--include-partial-messages: the deltas are the text; the assistant line adds nothing."""
    events = decode(load_fixture("stream"))
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(texts) >= 4
    assert "".join(texts) == "Echo: [[fake:slow=0.02]] one two three"
    final = events[-1]
    assert isinstance(final, FinalResult) and final.text == "".join(texts)


def test_native_json_schema_result_is_the_json_text() -> None:
    """With --json-schema the result is the structured output as JSON text."""
    final = decode(load_fixture("json_native"))[-1]
    assert isinstance(final, FinalResult) and not final.is_error
    assert isinstance(json.loads(final.text or ""), dict)


def test_rate_limit_gives_retry_notices_and_an_error_result() -> None:
    """api_retry (claude's own retry, with its delay) and the 429 result are both notices."""
    events = decode(load_fixture("rate_limit_429"))
    notices = [e for e in events if isinstance(e, RetryNotice)]
    assert [n.rate_limited for n in notices] == [True, True]
    assert notices[0].delay_s is not None and 0.5 < notices[0].delay_s < 5
    final = events[-1]
    assert isinstance(final, FinalResult) and final.is_error
    assert final.subtype == "success"  # claude 2.1 marks API failures only with is_error
    assert final.text and "Request rejected (429)" in final.text


def test_usage_limit_carries_the_reset_epoch() -> None:
    """'Claude AI usage limit reached|<epoch>' is a rate limit whose reset time is read."""
    final = decode(load_fixture("usage_limit"))[-1]
    assert isinstance(final, FinalResult) and final.is_error and final.text
    epoch = int(final.text.rsplit("|", 1)[1])
    hit = detect_rate_limit(
        final.text, BUILTIN_MODELS["claude"].rate_limit_patterns, now=epoch - 3600, tz=UTC
    )
    assert hit is not None and hit.reset_at == epoch


def test_a_subscription_limit_is_rate_limited_until_its_reset() -> None:
    """Signed in with a token, claude reports a five-hour limit as a rate_limit_event (resetsAt)
    and a 429 result ("You've hit your 5-hour limit · resets ..."): the attempt is a rate limit
    resetting at resetsAt exactly, not at the minute the text rounds it to."""
    events = decode(load_fixture("limit_reset_oauth"))
    line = next(
        json.loads(x)
        for x in load_fixture("limit_reset_oauth").splitlines()
        if b"rate_limit_event" in x
    )
    resets_at = line["rate_limit_info"]["resetsAt"]
    notices = [e for e in events if isinstance(e, RetryNotice)]
    assert [(n.rate_limited, n.reset_at) for n in notices] == [(True, resets_at), (True, None)]
    claude = BUILTIN_MODELS["claude"]
    attempt = AttemptOutput.for_attempt(1, claude, Settings())
    for event in events:
        attempt.receive_event(event)
    attempt.exit_code = 1
    call = build_request({"claude": claude}, model="claude", prompt="more?", timeout=30)
    hit = classify_failure(call, attempt, now=resets_at - 7200, tz=UTC)
    assert isinstance(hit, RateLimitHit), hit
    assert hit.reset_at == resets_at and "hit your 5-hour limit" in hit.excerpt, hit


def test_server_error_and_not_logged_in_are_error_results() -> None:
    for name, expected in [
        ("server_error_500", "API Error: 500"),
        ("not_logged_in", "Not logged in · Please run /login"),
    ]:
        events = decode(load_fixture(name))
        final = events[-1]
        assert isinstance(final, FinalResult) and final.is_error, name
        assert final.text and final.text.startswith(expected), final.text
        assert not any(isinstance(e, RetryNotice) and e.rate_limited for e in events)


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("not_logged_in", "Not logged in · Please run /login"),
        ("server_error_500", "API Error: 500 Internal server error."),
        ("rate_limit_429", "API Error: Request rejected (429)"),
    ],
)
def test_api_error_messages_are_errors_not_answer_text(name: str, error: str) -> None:
    """The assistant line claude makes up for an API failure is an ErrorNotice, not text."""
    events = decode(load_fixture(name))
    assert not [e for e in events if isinstance(e, TextDelta)]
    notices = [e.message for e in events if isinstance(e, ErrorNotice)]
    assert len(notices) == 1 and notices[0].startswith(error), notices


def test_fixtures_hold_nothing_machine_specific() -> None:
    """HOME, the fake's port and the cwd are placeholders in the recorded files."""
    for name in NAMES:
        text = load_fixture(name).decode()
        assert "/tmp/" not in text and "127.0.0.1:" not in text.replace("127.0.0.1:PORT", "")
