"""Fallbacks against real processes: each trigger moves the call on to the next model under the
same deadline; a timeout or a JSON failure does not unless the config says so."""

from __future__ import annotations

import sys
from pathlib import Path

import attrs
import pytest
import trio
import trio.testing

from llminst import (
    BUILTIN_MODELS,
    AttemptStarted,
    BackoffPolicy,
    CallResult,
    CallTimeoutError,
    CLINotFoundError,
    FallbackStarted,
    InvalidInputError,
    JSONNotFoundError,
    ModelSpec,
    RateLimitedError,
    RetryScheduled,
    Supervisor,
    UnknownModelError,
    open_supervisor,
)
from llminst._core.builtins import GENERIC_RATE_LIMIT_PATTERNS

from ..support.clocks import real_time_limit
from ..support.counting import SpecMaker, spawns
from ..support.models import models_with
from ..support.paths import FAKECLI

FAST = BackoffPolicy(initial_s=0.01, maximum_s=0.05, jitter_s=0.0)


def failing(name: str, text: str, **overrides: object) -> ModelSpec:
    """A CLI that prints `text` on stderr and exits 1, whatever the prompt."""
    fields: dict[str, object] = {
        "name": name,
        "command": (sys.executable, FAKECLI, "fail", "1", text),
        "rate_limit_patterns": GENERIC_RATE_LIMIT_PATTERNS,
        "auth_patterns": (r"not logged in",),
        "max_attempts": 2,
        **overrides,
    }
    return ModelSpec(**fields)  # type: ignore[arg-type]


PRIMARIES = {
    "rate_limited": failing("primary", "Error 429: Too Many Requests"),
    "credentials_missing": failing("primary", "Error: not logged in, run /login"),
    "api_unreachable": failing("primary", "fetch failed: connect ECONNREFUSED 127.0.0.1:9"),
    "cli_not_found": ModelSpec(name="primary", command=("llminst-no-such-cli",)),
}


@pytest.mark.parametrize("kind", sorted(PRIMARIES))
async def test_each_trigger_moves_the_call_on_to_the_next_model(
    kind: str, tmp_path: Path, counted: SpecMaker
) -> None:
    """The primary fails with `kind`; the configured fallback answers; the result names it and
    lists the primary with why it was passed over."""
    primary = attrs.evolve(PRIMARIES[kind], fallbacks=("backup", "unused"))
    models = models_with(primary, counted("backup"), counted("unused"))
    async with (
        open_supervisor(models=models, backoff=FAST) as sup,
        sup.open_stream("primary", "hello") as stream,
    ):
        events = [e async for e in stream.events()]
        result = await stream.wait()
    assert result.success and result.output == "hello"
    assert result.model == "backup"
    [passed] = result.fallback_chain
    assert passed["model"] == "primary" and passed["error_kind"] == kind
    assert passed["started"] is (kind != "cli_not_found")
    assert FallbackStarted("backup", "primary", kind) in events
    assert spawns(tmp_path, "backup") == 1 and spawns(tmp_path, "unused") == 0


async def test_a_call_names_its_own_fallbacks_and_a_cooldown_goes_straight_to_them(
    tmp_path: Path, counted: SpecMaker
) -> None:
    """fallbacks= on the call; the primary gave up on a bare throttle (rests 30 s), so the next
    call skips it without a spawn."""
    models = models_with(counted("lim", max_attempts=1), counted("backup"))
    async with open_supervisor(models=models, backoff=FAST) as sup:
        first = await sup.run("lim", "[[echo:rate-limit=1]] hi", fallbacks=["backup"])
        assert first.model == "backup" and spawns(tmp_path, "lim") == 1
        second = await sup.run("lim", "hello", fallbacks=["backup"])
        assert second.model == "backup" and second.output == "hello"
        [passed] = second.fallback_chain
        assert passed["error_kind"] == "rate_limited" and "cooling down" in str(passed["error"])
        assert passed["started"] is False
        with pytest.raises(RateLimitedError, match="cooling down"):
            await sup.run("lim", "hello", fallbacks=[])  # [] : no fallbacks at all
    assert spawns(tmp_path, "lim") == 1 and spawns(tmp_path, "backup") == 2


async def test_when_every_model_fails_the_last_error_names_the_others(
    counted: SpecMaker,
) -> None:
    models = models_with(
        failing("a", "Error 429: Too Many Requests", fallbacks=("b",)),
        ModelSpec(name="b", command=("llminst-no-such-cli",)),
    )
    async with open_supervisor(models=models, backoff=FAST) as sup:
        with pytest.raises(CLINotFoundError) as info:
            await sup.run("a", "hello")
    assert "models tried before it: a (rate_limited)" in str(info.value)
    assert info.value.result is not None
    assert info.value.result.model == "b"
    assert [step["model"] for step in info.value.result.fallback_chain] == ["a"]


async def run_jumping(
    sup: Supervisor,
    clock: trio.testing.MockClock,
    model: str,
    jumps: dict[str, tuple[float, ...]],
) -> CallResult:
    """Run `model` on a frozen virtual clock that moves only across a retry's backoff sleep,
    and when an attempt of a model in `jumps` starts: by each of its steps in turn, letting
    every task run between them."""
    async with real_time_limit(120), sup.open_stream(model, "hello", timeout=60) as stream:
        async for event in stream.events():
            if isinstance(event, AttemptStarted) and stream.model in jumps:
                for step in jumps[stream.model]:
                    await trio.testing.wait_all_tasks_blocked()
                    clock.jump(step)
            elif isinstance(event, RetryScheduled):
                clock.jump(event.delay_s)
        return await stream.wait()


async def test_no_fallback_on_a_timeout_by_default(
    tmp_path: Path, counted: SpecMaker, mock_clock: trio.testing.MockClock
) -> None:
    """On a virtual clock: the hanging primary runs under the call's whole deadline (no share
    of it is set aside for the fallback), times out there, and the fallback never starts."""
    models = models_with(
        ModelSpec(name="hangs", command=(sys.executable, FAKECLI, "hang"), fallbacks=("backup",)),
        counted("backup"),
    )
    deadlines = []

    async def watch_deadlines(sup: Supervisor) -> None:
        async with real_time_limit(120), sup.open_stream("hangs", "hi", timeout=60) as stream:
            async for event in stream.events():
                if isinstance(event, AttemptStarted):
                    await trio.testing.wait_all_tasks_blocked()
                    deadlines.append(trio.lowlevel.current_statistics().seconds_to_next_deadline)
                    mock_clock.jump(61)
            await stream.wait()

    async with open_supervisor(models=models, backoff=FAST) as sup:
        with pytest.raises(CallTimeoutError, match="'hangs' timed out after 60 s"):
            await watch_deadlines(sup)
    assert deadlines == [pytest.approx(60)]
    assert spawns(tmp_path, "backup") == 0


async def test_no_fallback_on_a_json_failure_by_default(tmp_path: Path, counted: SpecMaker) -> None:
    models = models_with(
        ModelSpec(
            name="prose", command=(sys.executable, FAKECLI, "say", "no json"), fallbacks=("backup",)
        ),
        counted("backup"),
    )
    async with open_supervisor(models=models, backoff=FAST) as sup:
        with pytest.raises(JSONNotFoundError):
            await sup.run("prose", "hello", json_mode=True)
    assert spawns(tmp_path, "backup") == 0


async def test_timeout_in_fallback_on_gives_each_model_a_share_of_the_same_deadline(
    tmp_path: Path, counted: SpecMaker, mock_clock: trio.testing.MockClock
) -> None:
    """On a virtual clock: with 'timeout' in fallback_on, the hanging primary gets half of the
    60 s, then the fallback answers; the call's budget is the one it was given."""
    models = models_with(
        ModelSpec(
            name="hangs",
            command=(sys.executable, FAKECLI, "hang"),
            fallbacks=("backup",),
            fallback_on=("timeout",),
        ),
        counted("backup"),
    )
    async with open_supervisor(models=models, backoff=FAST) as sup:
        result = await run_jumping(sup, mock_clock, "hangs", {"hangs": (30.001,)})
    assert result.model == "backup" and result.output == "hello"
    assert result.timeout_s == 60
    assert result.duration_s == pytest.approx(30, abs=0.01)
    [passed] = result.fallback_chain
    assert passed["error_kind"] == "timeout" and "share" in str(passed["error"])


async def test_the_fallback_runs_within_the_same_deadline(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    """On a virtual clock: the primary spends 20 s on a retry, then gives up; the hanging
    fallback times out at the call's original 60 s deadline, not 60 s after it started."""
    slow_retry = BackoffPolicy(initial_s=20.0, maximum_s=20.0, jitter_s=0.0)
    models = models_with(
        failing("primary", "Error 429: Too Many Requests", fallbacks=("hangs",)),
        # its own account: the primary's rest (fakecli.py) must not cover it
        ModelSpec(name="hangs", command=(sys.executable, FAKECLI, "hang"), account="hangs"),
    )
    async with open_supervisor(models=models, backoff=slow_retry) as sup:
        start = trio.current_time()
        with pytest.raises(CallTimeoutError) as info:
            # 40 s after the fallback starts is the original deadline (20 s went on the retry)
            await run_jumping(sup, mock_clock, "primary", {"hangs": (40.001,)})
        elapsed = trio.current_time() - start
    assert elapsed == pytest.approx(60, abs=0.01)
    assert info.value.result is not None
    assert info.value.result.model == "hangs"
    assert info.value.result.fallback_chain[0]["error_kind"] == "rate_limited"
    assert "'hangs' timed out after 60 s" in str(info.value)


async def test_fallbacks_are_checked_before_anything_starts(counted: SpecMaker) -> None:
    async with open_supervisor(models=models_with(counted("backup"))) as sup:
        with pytest.raises(UnknownModelError, match="fallback of model 'echo': unknown model"):
            await sup.run("echo", "hi", fallbacks=["backup", "nope"])
        with pytest.raises(InvalidInputError, match="list of model names"):
            await sup.run("echo", "hi", fallbacks="backup")  # type: ignore[arg-type]
        assert sup.running() == {}


def test_config_fields_are_validated() -> None:
    from llminst._core.spec import FieldValueError

    with pytest.raises(FieldValueError, match=r"unknown error kind.*'timout'.*valid kinds"):
        ModelSpec(name="m", command=("x",), fallback_on=("timout",))
    with pytest.raises(FieldValueError, match="fallbacks: 'a b'"):
        ModelSpec(name="m", command=("x",), fallbacks=("a b",))
    assert BUILTIN_MODELS["claude"].fallback_on == (
        "rate_limited",
        "credentials_missing",
        "cli_not_found",
        "api_unreachable",
    )
