"""Cooldowns against real processes: a rate-limited account rests, across calls and restarts,
for every model that shares it, without a single spawn (each CLI here counts its own starts)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trio
import trio.testing

from llminst import BackoffPolicy, RateLimitedError, open_supervisor
from llminst._core.cooldowns import CooldownRecord
from llminst.store import CallStore, MemoryStore, open_store

from ..support.counting import SpecMaker, spawns
from ..support.models import models_with

FAST = BackoffPolicy(initial_s=0.01, maximum_s=0.05, jitter_s=0.0)
LIMITED_FOR_AN_HOUR = "[[echo:rate-limit=99]] [[echo:reset-in=3600]] hi"


async def test_a_reset_time_cools_the_model_down_for_the_next_call(
    tmp_path: Path, counted: SpecMaker
) -> None:
    """The CLI says its limit resets in an hour: the call fails, and the next call to that
    model fails at once with rate_limited and the same reset time, without starting the CLI."""
    models = models_with(counted("lim"))
    async with open_supervisor(models=models, backoff=FAST) as sup:
        with pytest.raises(RateLimitedError) as first:
            await sup.run("lim", LIMITED_FOR_AN_HOUR, timeout=30)
        assert spawns(tmp_path, "lim") == 1
        reset_at = first.value.reset_at
        assert reset_at == pytest.approx(time.time() + 3600, abs=60)

        with pytest.raises(RateLimitedError) as second:
            await sup.run("lim", "an ordinary prompt")
        assert spawns(tmp_path, "lim") == 1  # no second spawn
        assert second.value.reset_at == reset_at
        assert "cooling down" in str(second.value) and "No process was started" in str(second.value)
        assert second.value.result is not None and second.value.result.attempts == 0
        assert [(c.account, c.until) for c in sup.cooldowns()] == [("lim_cli.py", reset_at)]


async def test_a_cooldown_survives_a_restart_over_the_same_store(
    tmp_path: Path, counted: SpecMaker
) -> None:
    """A new supervisor over the same store refuses the model without a spawn."""
    models = models_with(counted("lim"))
    store = MemoryStore()
    async with open_supervisor(models=models, backoff=FAST, store=store) as sup:
        with pytest.raises(RateLimitedError) as first:
            await sup.run("lim", LIMITED_FOR_AN_HOUR, timeout=30)
    assert spawns(tmp_path, "lim") == 1
    async with open_supervisor(models=models, backoff=FAST, store=store) as sup:
        with pytest.raises(RateLimitedError) as again:
            await sup.run("lim", "hello")
        statuses = {s.model: s for s in await sup.status()}
    assert spawns(tmp_path, "lim") == 1
    assert again.value.reset_at == first.value.reset_at
    assert statuses["lim"].cooldown_until == first.value.reset_at
    assert statuses["lim"].account == "lim_cli.py"
    assert statuses["echo"].cooldown_until is None


async def test_a_cooldown_another_supervisor_records_refuses_a_running_one(
    tmp_path: Path, counted: SpecMaker
) -> None:
    """Regression: a supervisor read the store's cooldowns only when it opened, so one already
    running (a replica, another server on the same store) spawned a CLI whose account another
    had just rested. Both open first; one is limited; the other refuses with no spawn."""
    models = models_with(counted("lim"))
    store = MemoryStore()
    async with (
        open_supervisor(models=models, backoff=FAST, store=store) as first,
        open_supervisor(models=models, backoff=FAST, store=store) as second,
    ):
        with pytest.raises(RateLimitedError) as limited:
            await first.run("lim", LIMITED_FOR_AN_HOUR, timeout=30)
        with pytest.raises(RateLimitedError, match="cooling down") as refused:
            await second.run("lim", "hello")
    assert spawns(tmp_path, "lim") == 1
    assert refused.value.reset_at == limited.value.reset_at


async def test_supervisors_on_one_sqlite_file_share_a_cooldown_without_a_read_per_call(
    tmp_path: Path, counted: SpecMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (+1.3 ms a call): each call re-read the cooldowns through the SQLite store's
    worker thread, behind the recorder's queued writes. Now a call reads them only when a
    cooldown changed in the file: none for calls while nothing changed, and another
    connection's (another process's) rest still refuses the next call with no spawn."""
    models = models_with(counted("lim"), counted("other"))
    path = tmp_path / "calls.sqlite3"
    async with open_store(path) as store_a, open_store(path) as store_b:
        reads = _count_cooldown_reads(store_b, monkeypatch)
        async with (
            open_supervisor(models=models, backoff=FAST, store=store_a) as first,
            open_supervisor(models=models, backoff=FAST, store=store_b) as second,
        ):
            loaded = len(reads)
            for _ in range(3):
                assert (await second.run("other", "hello")).output.strip()
            assert len(reads) == loaded  # nothing changed: no read
            with pytest.raises(RateLimitedError) as limited:
                await first.run("lim", LIMITED_FOR_AN_HOUR, timeout=30)
            with pytest.raises(RateLimitedError, match="cooling down") as refused:
                await second.run("lim", "hello")
            assert len(reads) == loaded + 1  # the change was seen, once
    assert spawns(tmp_path, "lim") == 1
    assert refused.value.reset_at == limited.value.reset_at


def _count_cooldown_reads(store: CallStore, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    reads: list[float] = []
    read = store.get_cooldowns

    async def counted_read() -> list[CooldownRecord]:
        reads.append(trio.current_time())
        return await read()

    monkeypatch.setattr(store, "get_cooldowns", counted_read)
    return reads


async def test_models_of_one_account_cool_down_together(tmp_path: Path, counted: SpecMaker) -> None:
    """A sub-model shares its model's account; two models naming one account share it; a
    model of another account still answers."""
    models = models_with(
        counted("max", account="anthropic-max"),
        counted("max2", account="anthropic-max"),
        counted("other"),
    )
    async with open_supervisor(models=models, backoff=FAST) as sup:
        with pytest.raises(RateLimitedError):
            await sup.run("max:opus", LIMITED_FOR_AN_HOUR, timeout=30)
        assert spawns(tmp_path, "max") == 1
        for model in ("max", "max:sonnet", "max2", "max2:opus"):
            with pytest.raises(RateLimitedError, match=r"'anthropic-max'.*by a call to 'max:opus'"):
                await sup.run(model, "hello")
        assert (await sup.run("other", "hello")).output == "hello"
    assert spawns(tmp_path, "max") == 1 and spawns(tmp_path, "max2") == 0
    assert spawns(tmp_path, "other") == 1


async def test_bare_throttles_rest_30_s_then_longer_on_repeats(
    tmp_path: Path, counted: SpecMaker, mock_clock: trio.testing.MockClock
) -> None:
    """On a virtual wall clock: a throttle without a reset time, once the call gives up, rests
    the account 30 s; another right after that rest 60 s; a success forgets the repeats."""
    start, virtual_start = time.time(), trio.current_time()
    models = models_with(counted("lim", max_attempts=1))

    def wall() -> float:
        return start + trio.current_time() - virtual_start

    async def call_at(offset: float, prompt: str) -> str:
        mock_clock.jump(start + offset - wall())
        before = spawns(tmp_path, "lim")
        try:
            await sup.run("lim", prompt, timeout=30)
        except RateLimitedError:
            return "refused" if spawns(tmp_path, "lim") == before else "limited"
        return "answered"

    async with open_supervisor(models=models, backoff=FAST, wall_clock=wall) as sup:
        twice = "[[echo:rate-limit=2]] twice"
        assert await call_at(0, twice) == "limited"
        assert sup.cooldowns()[0].until == pytest.approx(start + 30)
        assert await call_at(29.9, twice) == "refused"
        assert await call_at(30.1, twice) == "limited"
        assert sup.cooldowns()[0].until == pytest.approx(start + 90.1)
        assert await call_at(90, twice) == "refused"
        assert await call_at(90.2, twice) == "answered"
        assert await call_at(91, "[[echo:rate-limit=1]] once") == "limited"
        assert sup.cooldowns()[0].until == pytest.approx(start + 121)
    assert spawns(tmp_path, "lim") == 4
