"""One call, from start to result.

`CallRunner.drive` runs a `Call`: in its caller's task for `run`, as a task of the supervisor's
nursery for `open_stream` (whose caller reads the events meanwhile). Under the call's cancel scope,
whose deadline covers everything (queueing for the model's concurrency limit, every attempt, every
backoff sleep), it takes a slot of the model's `trio.CapacityLimiter`, decides once whether the CLI
takes the JSON schema by its own flag, then runs attempts (`attempt.run_attempt`) until one
succeeds, fails, or a rate limit cannot be waited out; between rate-limited attempts it sleeps as
`plan_retry` says. A model whose account is cooling down (`cooldowns`) starts no process; a model
that fails in a way its ``fallback_on`` names hands the call to the next model of its chain
(`_core.fallbacks`), under the same deadline. How each attempt ends and what the call returns is
decided in `_core.outcome`; this module only sequences it and keeps the time.

What it must never do: raise out of `drive` (every end of a call is a result or an `LLMError`
on the `Call`, and `done` is always set), or leave a process running when the call ends.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, tzinfo

import attrs
import trio
from attrs import define

from .._core.admission import memory_exceeded_error, memory_wait_timeout_error
from .._core.backoff import BackoffPolicy
from .._core.command import invocation_for
from .._core.cooldowns import account_of, cooling_down_error
from .._core.errors import LLMError
from .._core.fallbacks import PassedOver, falls_back, note_passed_over, share_timeout_error
from .._core.outcome import (
    attach_result,
    cancelled_error,
    classify_failure,
    finish,
    internal_error,
    shutdown_error,
    succeeded,
    timeout_error,
)
from .._core.output import AttemptOutput
from .._core.ratelimit import RateLimitHit
from .._core.request import CallRequest
from .._core.result import CallResult
from .._core.spec import ModelSpec, Settings
from ..logs import get_logger
from ..replicas.leases import GlobalLeases
from . import environ, reaper
from .attempt import run_attempt
from .backoffwait import wait_out
from .budgets import BudgetKeeper
from .cache import ResponseCache
from .callstate import Call, CallWatcher
from .capabilities import Capabilities
from .cooldowns import CooldownKeeper
from .memory import CallMemory, MemoryAdmission
from .stream import FallbackStarted, StreamEvent
from .warm import WarmPool

__all__ = ["Call", "CallRunner", "CallWatcher"]  # Call, CallWatcher: from `callstate`

_log = get_logger()


@define
class CallRunner:
    """What every call of a supervisor shares, and what runs each one (`drive`)."""

    settings: Settings
    backoff: BackoffPolicy
    rng: random.Random
    capabilities: Capabilities
    cooldowns: CooldownKeeper
    limiters: dict[str, trio.CapacityLimiter] = attrs.Factory(dict)
    calls: dict[str, Call] = attrs.Factory(dict)
    """The calls running or queued, by id."""
    watchers: list[CallWatcher] = attrs.Factory(list)
    """Told of every call's life (`CallWatcher`)."""
    clock: Callable[[], float] = time.time
    """The wall clock (epoch seconds) for reset times and cooldowns."""
    memory: MemoryAdmission = attrs.Factory(
        lambda self: MemoryAdmission(self.settings), takes_self=True
    )
    """Admits calls by memory and measures their process trees."""
    cache: ResponseCache | None = None
    """Answers calls that ask for caching from the store (None: no cache)."""
    budgets: BudgetKeeper | None = None
    """Refuses calls once a spending limit is spent (None: no limits)."""
    # Ids are keys of a store many processes share for weeks (each `llminst run` is a runner
    # whose first call ends in "-1"): 48 random bits keep them apart where 24 collided.
    warm: WarmPool | None = None
    """Processes started ahead for models with ``warm`` (None: every call starts cold)."""
    leases: GlobalLeases | None = None
    """Slots shared with other replicas, for models with a global scope (None: local only)."""
    _ids: Iterator[str] = attrs.field(
        init=False,
        factory=lambda: map(f"{uuid.uuid4().hex[:12]}-{{}}".format, itertools.count(1)),
    )

    def next_id(self) -> str:
        """A new call id (unique per store)."""
        return next(self._ids)

    def warm_pool(self) -> WarmPool:
        """The warm pool (made for every supervisor; only bare runners in tests lack one)."""
        assert self.warm is not None
        return self.warm

    def concurrency_limit(self, spec: ModelSpec) -> int:
        return spec.max_concurrency or self.settings.default_max_concurrency

    def reconfigured(self, spec: ModelSpec) -> None:
        """`spec` replaced its model's spec: a new concurrency limit applies from now on."""
        limiter = self.limiters.get(spec.name)
        if limiter is not None:
            limiter.total_tokens = self.concurrency_limit(spec)

    def new_call(
        self,
        request: CallRequest,
        *,
        events: trio.MemorySendChannel[StreamEvent] | None,
        owner: str | None = None,
        detached: bool = False,
        call_id: str | None = None,
    ) -> Call:
        """A call of `request`, counted as running; `drive` it (inline, or as a task).

        Its events go to `events` (None: nowhere, and it runs in its caller's task unless
        `detached`: a job of the supervisor's nursery that nobody reads as it runs). `call_id`:
        an id another replica chose (`next_id`) for a turn routed here; None: a new one.
        """
        now = trio.current_time()
        call_id = call_id or self.next_id()
        call = Call(
            id=call_id,
            request=request,
            scope=trio.CancelScope(deadline=now + request.timeout.seconds),
            started=now,
            events=events,
            log=_log.bind(call=call_id, model=request.model),
            watchers=tuple(self.watchers),
            owner=owner,
            inline=events is None and not detached,
            detached=detached,
        )
        self.calls[call.id] = call
        for watcher in call.watchers:
            watcher.call_started(call)
        return call

    async def end_all(self) -> None:
        """The supervisor closes: end every call, and wait (shielded) until each is over.

        Calls run inline end in their callers' tasks, which trio schedules as usual; those in
        the supervisor's nursery are cancelled with it.
        """
        calls = list(self.calls.values())
        for call in calls:
            call.shut_down_now()
        with trio.CancelScope(shield=True):
            for call in calls:
                await call.done.wait()

    async def drive(self, call: Call) -> None:
        """Run one call to its end, in the caller's task (`run`) or as a task of the
        supervisor's nursery (`open_stream`); it never raises but trio.Cancelled from outside.

        However it ends, `call.result` is set (and `call.error` for a failure) before
        `call.done` is set and the event channel is closed, in that order.
        """
        request = call.request
        call.log.info(
            "llminst.call.started",
            attempt=0,
            timeout_s=request.timeout.seconds,
            timeout_category=request.timeout.category,
            prompt_chars=len(request.prompt),
            system_prompt_chars=len(request.system_prompt or ""),
            cwd=request.cwd,
        )
        try:
            with call.scope:
                call.result = await self._answer(call)
            if call.scope.cancelled_caught:
                self._fail(call, self._why_cancelled(call))
        except LLMError as exc:
            self._fail(call, exc)
        except Exception as exc:
            call.log.exception("llminst.call.crashed", attempt=call.attempts)
            self._fail(call, internal_error(exc))
        finally:
            # Only a cancellation from outside gets here without a result: the supervisor's
            # nursery closing, or an inline call's caller cancelled (it may arrive wrapped in
            # an exception group, so it is not matched by type).
            if call.result is None:
                self._fail(call, cancelled_error() if call.inline else shutdown_error())
            # Set before the channel closes, so a consumer that sees the end sees the result;
            # and before logging, so nothing can leave a waiting caller hanging.
            self.calls.pop(call.id, None)
            call.done.set()
            if call.events is not None:
                call.events.close()
            for watcher in call.watchers:
                watcher.call_finished(call)
            call.log.info(
                "llminst.call.finished",
                attempt=call.attempts,
                success=call.error is None,
                error=None if call.error is None else call.error.kind,
                elapsed_s=round(trio.current_time() - call.started, 4),
                peak_rss_mb=call.peak_rss_mb,
            )

    def _why_cancelled(self, call: Call) -> LLMError:
        if call.shut_down:
            return shutdown_error()
        if call.abandoned:
            return cancelled_error(call.cancelled_why)
        if call.waiting_for == "memory":
            return memory_wait_timeout_error(
                call.request,
                expected_mb=self.memory.history.expected_mb(call.request.spec),
                room_mb=call.memory_room_mb,
                reserve_mb=self.settings.memory_reserve_mb,
            )
        return timeout_error(call.request, call.last, call.attempts)

    def _fail(self, call: Call, error: LLMError) -> None:
        call.error = attach_result(error, call.facts(), call.last)
        call.result = error.result

    async def _answer(self, call: Call) -> CallResult:
        """The call's answer: from the cache when it asked for caching and one is kept, else
        from its models (kept in the cache when it asked for caching)."""
        ttl_s = call.request.cache_ttl_s
        if ttl_s is None or self.cache is None:
            return await self._through_chain(call)
        cached = await self.cache.lookup(call)
        if cached is not None:
            return cached
        result = await self._through_chain(call)
        await self.cache.keep(call, result, ttl_s)
        return result

    async def _through_chain(self, call: Call) -> CallResult:
        """Run the call on its model, then on each fallback while the failure says to."""
        primary = call.request
        chain = (primary, *primary.fallbacks)
        for index, request in enumerate(chain):
            left = len(chain) - index - 1
            if index:
                await self._move_on(call, request)
            spawned = call.spawned
            try:
                return await self._one_model(call, models_left=left)
            except LLMError as exc:
                if not falls_back(primary, exc, models_left=left):
                    raise note_passed_over(exc, call.passed_over) from None
                started = call.spawned > spawned
                call.passed_over.append(
                    PassedOver(
                        model=request.model, error_kind=exc.kind, error=exc.message, started=started
                    )
                )
        raise AssertionError("unreachable: the last model's failure is raised")

    async def _one_model(self, call: Call, *, models_left: int) -> CallResult:
        """Run the call on its current model; with timeouts in ``fallback_on`` and models left,
        for its equal share of the time left only."""
        request = call.request
        if models_left == 0 or "timeout" not in call.request.spec.fallback_on:
            return await self._within_limit(call)
        now = trio.current_time()
        share = (call.scope.deadline - now) / (models_left + 1)
        with trio.CancelScope(deadline=now + share):
            return await self._within_limit(call)
        raise share_timeout_error(request, call.last, share)

    async def _move_on(self, call: Call, request: CallRequest) -> None:
        """Hand the call to the next model of its chain."""
        passed = call.passed_over[-1]
        call.log.info(
            "llminst.fallback.next",
            passed_over=passed.model,
            reason=passed.error_kind,
            next_model=request.model,
        )
        call.request = request
        call.last = None
        call.log = call.log.bind(model=request.model)
        await call.emit(FallbackStarted(request.model, passed.model, passed.error_kind))

    async def _within_limit(self, call: Call) -> CallResult:
        """Run the call's attempts holding a slot of its model's concurrency limit, once
        memory admission lets it start (`memory.MemoryAdmission`)."""
        spec = call.request.spec
        limiter = self.limiters.get(spec.name)
        if limiter is None:
            limiter = self.limiters[spec.name] = trio.CapacityLimiter(self.concurrency_limit(spec))
        try:
            limiter.acquire_nowait()  # a free slot costs no trip through the scheduler
        except trio.WouldBlock:
            call.waiting_for = "a concurrency slot"
            await limiter.acquire()
        try:
            if self.leases is None or spec.concurrency_scope != "global":
                call.waiting_for = None
                return await self._admitted(call)
            async with self._global_slot(call):
                call.waiting_for = None
                return await self._admitted(call)
        finally:
            limiter.release()

    async def _admitted(self, call: Call) -> CallResult:
        memory = await self.memory.admit_call(call)  # as `MemoryAdmission.admitted`
        try:
            return await self._attempts(call, memory)
        finally:
            if memory is not None:
                self.memory.release(memory)

    @contextlib.asynccontextmanager
    async def _global_slot(self, call: Call) -> AsyncIterator[None]:
        """Hold one of the account's slots across replicas (a model whose
        ``concurrency_scope`` is global, `replicas.leases`; `_within_limit` skips it otherwise)."""
        spec = call.request.spec
        assert self.leases is not None
        call.waiting_for = "a global concurrency slot"
        lease = await self.leases.acquire(account_of(spec), self.concurrency_limit(spec))
        try:
            yield
        finally:
            await self.leases.release(lease)

    async def _attempts(self, call: Call, memory: CallMemory | None) -> CallResult:
        request = call.request
        native_args = request.spec.json_schema_args
        native, base = request.json_mode and bool(native_args), self.capabilities.base_env
        await self.cooldowns.refresh(request.spec)  # another replica may have rested it
        self._refuse_if_resting(call)
        if self.budgets is not None:
            await self.budgets.check(request, call_id=call.id)
        if native:  # decided once per call: the CLI's help says whether it has the flag
            native = await self.capabilities.supports_flag(request.spec, native_args[0])
        while True:
            call.attempts += 1
            output = AttemptOutput.for_attempt(call.attempts, request.spec, self.settings)
            call.last = output
            token = f"{call.id}.{call.attempts}"  # how its escapees are recognised
            invocation = invocation_for(
                request,
                native_schema=native,
                base_env=environ.plain(base) if reaper.active() else base,
                extra_env={reaper.MARKER_VAR: token} if reaper.active() else None,
            )
            settings = self.settings
            warm = self.warm.take(request.spec, invocation) if self.warm else None
            await run_attempt(
                call,
                output,
                invocation,
                grace_s=settings.grace_period_s,
                token=token,
                memory=memory,
                warm=warm,
            )
            if memory is not None and memory.exceeded_mb is not None:
                peak = max(memory.exceeded_mb, memory.peak_mb or 0.0)
                raise memory_exceeded_error(request, peak_mb=peak, limit_mb=memory.limit_mb or 0.0)
            if succeeded(output):
                await self.cooldowns.succeeded(request.spec)
                return finish(call.facts(), output)
            now = self.clock()
            failure = classify_failure(request, output, now=now, tz=_local_timezone())
            if not isinstance(failure, RateLimitHit):
                raise failure
            await wait_out(
                call, failure, now, backoff=self.backoff, rng=self.rng, cooldowns=self.cooldowns
            )

    def _refuse_if_resting(self, call: Call) -> None:
        """Raise `rate_limited` before any process starts if the model's account rests."""
        record = self.cooldowns.resting(call.request.spec)
        if record is not None:
            call.log.info("llminst.cooldown.refused", account=record.account, until=record.until)
            raise cooling_down_error(call.request.model, record, now=self.clock())


def _local_timezone() -> tzinfo:
    # CLIs print reset times ("resets 1am") in the local time of this machine.
    return datetime.now().astimezone().tzinfo or UTC
