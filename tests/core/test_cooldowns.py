"""Cooldown decisions: accounts, rests after a reset time or a bare throttle, growth and cap."""

from __future__ import annotations

import sys

import attrs
import pytest

from llminst import BUILTIN_MODELS, ModelSpec, RateLimitedError
from llminst._core.cooldowns import (
    BASE_COOLDOWN_S,
    MAX_COOLDOWN_S,
    REPEAT_WINDOW_S,
    CooldownRecord,
    account_of,
    cleared_after_success,
    cooldown_after,
    cooling_down_error,
)
from llminst._core.status import ModelStatus, render_status_table

NOW = 1_800_000_000.0


def spec(*command: str, account: str | None = None) -> ModelSpec:
    return ModelSpec(name="m", command=command, account=account)


@pytest.mark.parametrize(
    ("command", "account"),
    [
        (("claude", "-p"), "claude"),
        (("/usr/local/bin/claude", "-p"), "claude"),
        ((sys.executable, "-m", "llminst.echo"), "llminst.echo"),
        (("python3", "-u", "/opt/tools/fakecli.py", "say"), "fakecli.py"),
        (("node", "/x/gemini.js"), "gemini.js"),
        (("npx", "-y", "@google/gemini-cli"), "gemini-cli"),
        (("bash",), "bash"),
    ],
)
def test_the_default_account_is_the_program_the_command_runs(
    command: tuple[str, ...], account: str
) -> None:
    """The executable's name; for an interpreter, the module or script it runs (two different
    scripts under one python are two accounts, not one)."""
    assert account_of(spec(*command)) == account


def test_a_named_account_is_shared_and_builtins_have_their_own() -> None:
    assert account_of(spec("claude", account="anthropic-max")) == "anthropic-max"
    assert account_of(spec("other", account="anthropic-max")) == "anthropic-max"
    accounts = {name: account_of(s) for name, s in BUILTIN_MODELS.items()}
    assert accounts["claude"] == "claude" and accounts["gemini"] == "gemini"
    assert len(set(accounts.values())) == len(accounts)


def test_a_reset_time_rests_the_account_until_then_even_while_the_call_retries() -> None:
    record = cooldown_after(
        None,
        account="claude",
        model="claude:opus",
        reason="usage limit reached",
        reset_at=NOW + 3600,
        gave_up=False,
        now=NOW,
    )
    assert record is not None
    assert record.until == NOW + 3600 and record.strikes == 0 and record.model == "claude:opus"
    assert record.active(NOW + 3599) and not record.active(NOW + 3600)


def test_a_reset_in_the_past_or_a_shorter_one_changes_nothing() -> None:
    longer = CooldownRecord(account="a", until=NOW + 600, reason="r", model="m", set_at=NOW)
    args = {"account": "a", "model": "m", "reason": "r", "gave_up": False, "now": NOW}
    assert cooldown_after(longer, reset_at=NOW + 60, **args) is None
    assert cooldown_after(None, reset_at=NOW - 1, **args) is None


def test_a_throttle_without_reset_rests_only_once_the_call_gives_up() -> None:
    args = {"account": "a", "model": "m", "reason": "429", "reset_at": None, "now": NOW}
    assert cooldown_after(None, gave_up=False, **args) is None
    record = cooldown_after(None, gave_up=True, **args)
    assert record is not None
    assert record.until == NOW + BASE_COOLDOWN_S and record.strikes == 1


def test_repeated_throttles_double_the_rest_up_to_the_cap() -> None:
    rests = []
    record: CooldownRecord | None = None
    now = NOW
    for _ in range(8):
        new = cooldown_after(
            record, account="a", model="m", reason="429", reset_at=None, gave_up=True, now=now
        )
        assert new is not None
        rests.append(new.until - now)
        record = new
        now = new.until + 1  # the next throttle comes right after this rest ends
    assert rests == [30, 60, 120, 240, 300, 300, 300, 300]
    assert MAX_COOLDOWN_S == 300


def test_a_throttle_long_after_the_last_rest_starts_over() -> None:
    old = CooldownRecord(account="a", until=NOW, reason="r", model="m", strikes=4, set_at=NOW - 1)
    later = NOW + REPEAT_WINDOW_S + 1
    new = cooldown_after(
        old, account="a", model="m", reason="429", reset_at=None, gave_up=True, now=later
    )
    assert new is not None and new.strikes == 1 and new.until == later + BASE_COOLDOWN_S


def test_a_success_after_the_rest_forgets_the_repeats() -> None:
    ended = CooldownRecord(account="a", until=NOW, reason="r", model="m", strikes=3, set_at=NOW)
    cleared = cleared_after_success(ended, now=NOW + 1)
    assert cleared is not None and cleared.strikes == 0
    assert cleared_after_success(ended, now=NOW - 1) is None  # still resting: a call in flight
    assert cleared_after_success(None, now=NOW) is None
    assert cleared_after_success(cleared, now=NOW + 2) is None  # nothing to write


def test_the_refusal_names_the_reset_time_the_cause_and_the_fix() -> None:
    record = CooldownRecord(
        account="anthropic-max",
        until=NOW + 125,
        reason="Claude AI usage limit reached",
        model="claude",
        set_at=NOW,
    )
    error = cooling_down_error("claude:opus", record, now=NOW)
    assert isinstance(error, RateLimitedError) and error.kind == "rate_limited"
    assert error.reset_at == NOW + 125
    text = str(error)
    assert "'claude:opus' is cooling down" in text and "'anthropic-max'" in text
    assert "by a call to 'claude'" in text and "usage limit reached" in text
    assert "2027-01-15T08:02:05Z (in 2 min 5 s)" in text
    assert "No process was started" in text and "fallbacks" in text


def test_the_status_table_shows_a_cooldown_on_a_line_of_its_own() -> None:
    """`llminst status`: a model cooling down gets a "cooldown:" line with the account, the
    time it ends and what the CLI said; the others get none."""
    base = ModelStatus(
        model="claude",
        command=["claude"],
        available=True,
        executable_path="/usr/bin/claude",
        version="2.1.0",
        version_state="ok",
        version_note=None,
        credentials_set=[],
        credentials_missing=[],
        timeout_category="normal",
        timeout_s=300,
        max_concurrency=8,
        running=0,
        hint=None,
        account="anthropic-max",
    )
    resting = attrs.evolve(
        base, cooldown_until=NOW + 60, cooldown_reason="Claude AI usage limit reached"
    )
    other = attrs.evolve(base, model="gemini", account="gemini")
    lines = render_status_table([resting, other], width=160)
    cooldown = [line for line in lines if "cooldown:" in line]
    assert len(cooldown) == 1
    assert cooldown[0].split() == [
        "cooldown:",
        "rate",
        "limited",
        "(account",
        "anthropic-max)",
        "until",
        "2027-01-15T08:01:00Z:",
        "Claude",
        "AI",
        "usage",
        "limit",
        "reached",
    ]
    narrow = render_status_table([resting], width=30)
    assert any("cooldown:" in line for line in narrow)
