"""The `Supervisor` facade: what a caller of `open_supervisor` holds, each method thin.

It owns the configured models and the parts every call shares (the runner, capabilities, warm
processes, sessions, the recorder), turns each call's arguments into a request once
(`options`), and hands the call to the runner (`call.CallRunner`) in its caller's task (`run`),
as a task of the supervisor's nursery (`open_stream`), or as a job (`start`). What it must
never do: start a process itself, or exist outside `open_supervisor` (`opening`).
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import trio

from .._core.backoff import BackoffPolicy
from .._core.cooldowns import CooldownRecord
from .._core.fanout import CompareResult
from .._core.ledger import UsageRow, check_group_by
from .._core.request import CallRequest, resolve_model
from .._core.result import CallResult
from .._core.spec import BudgetSettings, ModelSpec, Settings
from .._core.status import ModelStatus
from ..replicas import ReplicaLink, StoreHealth
from ..store import CallStore
from . import fanout
from .assembly import build_runner
from .callstate import count_by_model
from .cancels import cancel_elsewhere
from .cooldowns import CooldownKeeper
from .handover import Handover
from .jobs import Jobs
from .live import LiveCalls
from .memory import read_available_mb
from .options import CallOptions, path_text, request_for
from .readiness import model_statuses
from .recorder import Recorder
from .sessions import keeper_for
from .stream import CallStream
from .workdir import resolve_call_directory

__all__ = ["CONSTRUCTED_BY_OPEN_SUPERVISOR", "Supervisor"]

CONSTRUCTED_BY_OPEN_SUPERVISOR = object()
"""The key only `open_supervisor` passes: a `Supervisor` cannot be made directly."""


class Supervisor:
    """Runs calls; made by `open_supervisor()`, valid inside its ``async with`` block."""

    def __init__(
        self,
        key: object,
        nursery: trio.Nursery,
        *,
        models: Mapping[str, ModelSpec],
        settings: Settings,
        base_env: Mapping[str, str],
        backoff: BackoffPolicy,
        rng: random.Random,
        recorder: Recorder,
        allowed_roots: Sequence[str] | None = None,
        cooldowns: CooldownKeeper | None = None,  # None: none kept before, wall-clock time
        available_memory_mb: Callable[[], float | None] = read_available_mb,
        budget: BudgetSettings | None = None,
        host: str | None = None,  # None: the host part of the recorder's writer
    ) -> None:
        if key is not CONSTRUCTED_BY_OPEN_SUPERVISOR:
            raise TypeError(
                "a Supervisor is made by open_supervisor(): "
                "`async with llminst.open_supervisor() as supervisor: ...`"
            )
        self._models = dict(models)
        self.settings = settings
        self.allowed_roots = None if allowed_roots is None else tuple(allowed_roots)
        self._runner = runner = build_runner(
            nursery,
            settings=settings,
            base_env=base_env,
            backoff=backoff,
            rng=rng,
            recorder=recorder,
            live=(live := LiveCalls()),
            cooldowns=cooldowns,
            available_memory_mb=available_memory_mb,
            budget=budget,
        )
        self._capabilities, self._warm = runner.capabilities, runner.warm_pool()
        self.jobs = Jobs(self._runner, nursery, live, recorder.store)
        """Jobs (`start`), and waiting for and cancelling any running call."""
        self._recorder = recorder
        self._replicas: ReplicaLink | None = None  # set by open_supervisor
        sessions = keeper_for(recorder, nursery, settings, host=host)
        self._handover = Handover(self._runner, nursery, sessions, self.jobs)
        self._closed = False

    # -- the store ------------------------------------------------------------------------

    @property
    def store(self) -> CallStore:
        """Where every call of this supervisor is recorded (`open_supervisor`'s `store`)."""
        return self._recorder.store

    @property
    def store_health(self) -> StoreHealth:
        """Whether the store's server can be reached now (`degraded` while Redis is down)."""
        return self._recorder.health

    async def flushed(self) -> None:
        """Wait until every call's record and output so far are written to the store.

        Cancellation: safe; what was queued is written by the supervisor's writer anyway.
        """
        await self._recorder.flushed()

    async def usage(self, *, since: float | None = None, group_by: str = "model") -> list[UsageRow]:
        """The usage ledger of the store's calls created at or after `since` (epoch seconds;
        None: all), one row per model, UTC day or session (`group_by`): calls, failures,
        cache hits, tokens, known cost and how many costs are unknown, time spent.

        Raises:
            InvalidInputError: `group_by` is not model, day or session.
        """
        check_group_by(group_by)
        await self.flushed()
        return await self.store.usage_summary(since=since, group_by=group_by)

    async def clear_cache(self) -> int:
        """Forget every cached answer in the store; how many there were."""
        assert self._runner.cache is not None  # always made by __init__
        return await self._runner.cache.clear()

    def cooldowns(self) -> list[CooldownRecord]:
        """The accounts resting after a rate limit now (calls to their models fail at once
        with ``rate_limited``, or go to a fallback, without starting the CLI)."""
        return self._runner.cooldowns.active()

    async def cancel(self, call_id: str) -> bool:
        """End a running call wherever it runs: here (`jobs.cancel`), else in the process
        that records it in the store (another replica: see `cancels.cancel_elsewhere`).
        False when no such call runs.

        Cancellation: safe; a request already sent stays in the store.
        """
        if await self.jobs.cancel(call_id):
            return True
        publish = None if self._replicas is None else self._replicas.publish_cancel
        return await cancel_elsewhere(self.store, call_id, publish=publish)

    # -- models ---------------------------------------------------------------------------

    @property
    def models(self) -> Mapping[str, ModelSpec]:
        return dict(self._models)

    def configure(self, spec: ModelSpec) -> None:
        """Add or replace a model; running calls keep the spec they started with."""
        self._models[spec.name] = spec
        self._runner.reconfigured(spec)
        self._warm.retire(spec.name)

    def resolve(self, model: str) -> tuple[ModelSpec, str | None]:
        """``claude:sonnet`` -> (the claude spec, ``sonnet``); raises UnknownModelError."""
        return resolve_model(self._models, model)

    def resolve_directory(self, path: str | os.PathLike[str]) -> str:
        """The real path of `path` as a call's ``cwd``: raises InvalidInputError where `run`
        would (missing, not a directory, outside `allowed_roots`)."""
        return resolve_call_directory(path_text(path), roots=self.allowed_roots)

    def concurrency_limit(self, spec: ModelSpec) -> int:
        return self._runner.concurrency_limit(spec)

    def warm_ready(self, model: str) -> list[int]:
        """The PIDs of `model`'s warm processes waiting for a call now (its ``warm``)."""
        return self._warm.ready_pids(model)

    def running(self) -> dict[str, int]:
        """How many calls of each model are running or queued."""
        return count_by_model(self._runner.calls.values())

    def queued(self) -> dict[str, int]:
        """How many calls of each model wait to start (for a concurrency slot or for memory);
        they are counted in `running` too."""
        return count_by_model(self._runner.calls.values(), queued_only=True)

    def expected_memory_mb(self, model: str) -> float:
        """The peak memory (MB) a call of `model` is expected to need now: the p95 of its
        recent measured peaks, else its ``expected_memory_mb``, else a default."""
        return self._runner.memory.history.expected_mb(self.resolve(model)[0])

    def find_executable(self, spec: ModelSpec) -> str | None:
        """Where the model's executable is, on the PATH its CLI would get; None if absent."""
        return self._capabilities.find_executable(spec)

    async def supports_flag(self, spec: ModelSpec, flag: str) -> bool:
        """Whether the installed CLI's help (`ModelSpec.help_argv`) lists `flag`; see
        `capabilities.Capabilities.supports_flag`.

        Cancellation: the help command keeps running in the supervisor's nursery for at most
        10 s, so a later caller gets its answer; closing the supervisor kills and reaps it.
        """
        return await self._capabilities.supports_flag(spec, flag)

    async def status(
        self, *, probe: bool = False, version_wait_s: float = 1.5
    ) -> list[ModelStatus]:
        """Every model's readiness, without spending tokens unless `probe` is True.

        Args:
            probe: also run a tiny prompt on each available model, concurrently, and report
                ``ok`` or the error.
            version_wait_s: how long to wait for version commands that are still running
                (``math.inf``: until each has finished, at most `VERSION_PROBE_LIMIT_S`).

        Executables are looked up on the PATH the CLI would get. Each configured version
        command runs at most once at a time, in the supervisor's nursery, for up to
        `VERSION_PROBE_LIMIT_S`; its answer is kept per executable and modification time, so
        repeated calls are instant. One still running after `version_wait_s` is reported as
        ``probing`` and keeps running, so a later status has its version. A model without a
        version command never has anything run for it (unless `probe`).

        Cancellation: version commands keep running in the supervisor's nursery (each for at
        most `VERSION_PROBE_LIMIT_S`; closing the supervisor kills and reaps them); a probe's
        call is cancelled like `run`'s, its process tree killed and reaped before `status`
        returns control.
        """
        return await model_statuses(
            self,
            self._capabilities,
            self._runner.cooldowns,
            probe=probe,
            version_wait_s=version_wait_s,
        )

    # -- calls ----------------------------------------------------------------------------

    async def run(
        self,
        model: str,
        prompt: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the call's budget: see CallOptions
        json_mode: bool = False,
        json_schema: str | Mapping[str, Any] | None = None,
        cli_streaming: bool = False,
        system_prompt: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
        fallbacks: Sequence[str] | None = None,
        session: str | None = None,
        cache: bool | None = None,
        owner: str | None = None,
    ) -> CallResult:
        """Run one call to completion.

        Args:
            model: a configured model name, optionally with a sub-model (``claude:sonnet``).
            prompt: the prompt, passed to the CLI byte for byte.
            owner: who may see the call's record (`CallRecord.owner`; None: anyone).
            The others are `CallOptions`' fields, documented there.

        Returns the `CallResult` of a successful call. Raises an `LLMError` subclass per
        failure (``error.result`` holds what was collected); InvalidInputError and
        UnknownModelError before anything starts.

        Cancellation: cancelling the caller ends the call: its process tree gets SIGTERM, the
        grace period, SIGKILL, and is reaped, in a shielded scope, before the cancellation
        reaches the caller (as trio's `run_process`).
        """
        options = CallOptions(
            timeout=timeout,
            json_mode=json_mode,
            json_schema=json_schema,
            cli_streaming=cli_streaming,
            system_prompt=system_prompt,
            cwd=cwd,
            fallbacks=fallbacks,
            session=session,
            cache=cache,
        )
        request = self._request(model, prompt, options)
        return await self._handover.run(request, session, owner)

    @asynccontextmanager
    async def open_stream(
        self,
        model: str,
        prompt: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the call's budget: see CallOptions
        json_mode: bool = False,
        json_schema: str | Mapping[str, Any] | None = None,
        cli_streaming: bool = True,
        system_prompt: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
        fallbacks: Sequence[str] | None = None,
        session: str | None = None,
        cache: bool | None = None,
        owner: str | None = None,
    ) -> AsyncIterator[CallStream]:
        """Start a call and yield a `CallStream` of its output.

        Arguments are those of `run`, but `cli_streaming` is True by default: a stream is
        read as it comes, so the CLI is asked to print its answer as it comes. Invalid input
        raises before anything starts. A call of a `session` waits for the session's previous
        call to end before it starts.

        Cancellation: leaving the block before the call ends (break, exception, cancellation)
        cancels the call: its process tree gets SIGTERM, the grace period, SIGKILL, and is
        reaped, in a shielded scope, before the block is left.
        """
        options = CallOptions(
            timeout=timeout,
            json_mode=json_mode,
            json_schema=json_schema,
            cli_streaming=cli_streaming,
            system_prompt=system_prompt,
            cwd=cwd,
            fallbacks=fallbacks,
            session=session,
            cache=cache,
        )
        request = self._request(model, prompt, options)
        async with self._handover.stream(request, session, owner) as stream:
            yield stream

    async def compare(
        self,
        prompt: str,
        models: Sequence[str],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the call's budget: see CallOptions
        json_mode: bool = False,
        json_schema: str | Mapping[str, Any] | None = None,
        synthesize_with: str | None = None,
        forward: fanout.Forward | None = None,
    ) -> CompareResult:
        """Ask several models the same prompt at once; optionally have one combine the answers.

        Args:
            prompt: the prompt every model gets, byte for byte.
            models: 1 to 8 distinct model names (``claude``, ``gemini``, ``claude:opus``).
            timeout: seconds for each model's call (they run at once, so this bounds the
                answers too); the synthesis gets the same budget again. None: each call picks
                a category from the prompt, as `run`.
            json_mode, json_schema: as `run`, for every call (the synthesis too).
            synthesize_with: a model that then gets the successful answers, anonymised as
                "Answer 1", "Answer 2", ... (in the order of `models`), and writes one
                combined answer (`CompareResult.synthesis`).
            forward: ``await forward(label, stream)`` in each call's task while it runs, with
                the model's name (``"synthesis"`` for the synthesis) and its `CallStream`; it
                should read ``stream.events()`` to the end. None: nothing is streamed.

        Returns a `CompareResult`: one `CallResult` per model, in the order given, the answer
        or the error (``error_kind``, ``error``, output so far), each with its duration, usage
        and cost; one model failing or timing out never stops the others. Raises, before any
        call starts, InvalidInputError (`models` empty, longer than 8 or with a name twice; an
        invalid timeout or schema) or UnknownModelError (any model or `synthesize_with`).

        Cancellation: cancelling the caller cancels every call; each process tree is killed
        and reaped before the cancellation reaches the caller.
        """
        return await fanout.compare(
            self,
            prompt,
            models,
            timeout=timeout,
            json_mode=json_mode,
            json_schema=json_schema,
            synthesize_with=synthesize_with,
            forward=forward,
        )

    async def start(
        self,
        model: str,
        prompt: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the call's budget: see CallOptions
        json_mode: bool = False,
        json_schema: str | Mapping[str, Any] | None = None,
        system_prompt: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
        fallbacks: Sequence[str] | None = None,
        session: str | None = None,
        owner: str | None = None,
    ) -> str:
        """Start a call as a job of the supervisor's nursery and return its id.

        Arguments are those of `run`. The call is not tied to the caller: it runs until it
        ends, its timeout, `jobs.cancel`, or the supervisor closes (then it is recorded
        ``interrupted``). Read it from `store` (after `flushed`); see `jobs.Jobs`. Invalid
        input raises before anything starts. A job of a `session` returns once the session's
        previous call has ended (turns of one session run one at a time).

        Cancellation: cancelling the caller while it waits for a session's previous call
        starts nothing; once this returns, the job runs on its own.
        """
        options = CallOptions(
            timeout=timeout,
            json_mode=json_mode,
            json_schema=json_schema,
            cli_streaming=True,  # polled as it runs: the CLI should print as it goes
            system_prompt=system_prompt,
            cwd=cwd,
            fallbacks=fallbacks,
            session=session,
        )
        request = self._request(model, prompt, options)
        return await self._handover.start(request, session, owner)

    def _request(self, model: str, prompt: str, options: CallOptions) -> CallRequest:
        request = request_for(
            self._models, model, prompt, options, allowed_roots=self.allowed_roots
        )
        if self._closed:
            raise RuntimeError("the supervisor is closed")
        return request
