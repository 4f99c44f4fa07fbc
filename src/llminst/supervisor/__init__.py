"""The supervisor: the only place in llminst that starts, reads, signals, kills and reaps processes.

`open_supervisor()` opens a nursery and yields the `Supervisor`, the facade callers use. A call
runs (`call.CallRunner.drive`) in its caller's task (`run`) or as a task of that nursery
(`open_stream`), under its own cancel scope whose deadline covers queueing for the model's
concurrency limit, every attempt and every backoff sleep. Each attempt (`attempt`) starts the
CLI in a new session (process group) with stdin from /dev/null (or the prompt written and
closed), drains stdout and stderr concurrently, and passes what the caller should see into a
bounded trio memory channel (backpressure, not unbounded buffering).

Cleanup is a contract. However an attempt ends (exit, deadline, caller cancelled, supervisor
closed) its process group gets SIGTERM, a grace period, SIGKILL, and is reaped, inside a shielded
scope; stragglers the CLI left in its group are killed too. With ``subreaper=True`` (Linux)
descendants that left the group with ``setsid`` are killed and reaped as well (`reaper`).
Leaving `open_supervisor()` cancels every call, so every process it started is gone when the
``async with`` block ends. An attempt whose CLI keeps printing the same connection or
credentials error without answering is ended the same way, early, instead of at its deadline.

The package, one rule per module: `process` (start, kill a tree, reap), `pumps` (pipes),
`attempt` (one process of a call), `call` (one call: deadline, limiter, attempts, backoff),
`stream` (what a caller iterates), `capabilities` (executables, versions, help, status),
`workdir` (a call's directory, checked before it starts), `cooldowns` (which accounts rest
after a rate limit, kept in the store), `recorder` (every call written to the store),
`cache` (answers kept in the store and served without a process), `budgets` (spending limits,
checked before a process starts), `cancels` (calls cancelled at another process's request, read
from the store), `reaper` (descendants that left their group), `procfs` (the one reader of
``/proc``), `fanout` (one prompt to several models at once) and `live` (running calls, waiting
for their news). A job (`start`, `jobs`) is a call of the supervisor's nursery that nobody reads
as it runs: its caller polls the store, and may cancel it.
Everything that is not I/O (the request, argv, decoding, output caps, outcomes, retry
decisions, JSON) lives in `_core`.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from .._core.backoff import BackoffPolicy
from .._core.builtins import BUILTIN_MODELS
from .._core.cache import cache_ttl
from .._core.cooldowns import CooldownRecord, account_of
from .._core.errors import LLMError
from .._core.fallbacks import with_fallbacks
from .._core.fanout import CompareResult
from .._core.ledger import UsageRow, check_group_by
from .._core.records import CallOrigin
from .._core.request import CallRequest, build_request, resolve_model
from .._core.result import CallResult
from .._core.spec import BudgetSettings, ModelSpec, Settings
from .._core.status import ModelStatus
from ..logs import ensure_logging
from ..replicas import ReplicaLink, StoreHealth
from ..replicas.link import link_for_store
from ..store import CallStore, MemoryStore
from . import fanout, reaper
from .budgets import BudgetKeeper
from .cache import ResponseCache
from .call import Call, CallRunner
from .cancels import CancelWatch, cancel_elsewhere
from .capabilities import QUICK_COMMAND_RETRY_AFTER_S, VERSION_PROBE_LIMIT_S, Capabilities
from .cooldowns import CooldownKeeper
from .jobs import Jobs
from .live import LiveCalls
from .memory import MemoryAdmission, read_available_mb
from .recorder import Recorder, writer_identity
from .sessions import SessionKeeper
from .stream import AttemptStarted, CallStream, FallbackStarted, RetryScheduled, StreamEvent
from .warm import WarmPool
from .workdir import resolve_call_directory

__all__ = [
    "QUICK_COMMAND_RETRY_AFTER_S",
    "VERSION_PROBE_LIMIT_S",
    "AttemptStarted",
    "CallStream",
    "FallbackStarted",
    "RetryScheduled",
    "StreamEvent",
    "Supervisor",
    "open_supervisor",
]

_STREAM_BUFFER = 64  # events queued for a slow consumer before the CLI is paused
_PROBE_PROMPT = "Reply with the single word: ok"
_CONSTRUCTED_BY_OPEN_SUPERVISOR = object()


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
    ) -> None:
        if key is not _CONSTRUCTED_BY_OPEN_SUPERVISOR:
            raise TypeError(
                "a Supervisor is made by open_supervisor(): "
                "`async with llminst.open_supervisor() as supervisor: ...`"
            )
        self._nursery = nursery
        self._models = dict(models)
        self.settings = settings
        self.allowed_roots = None if allowed_roots is None else tuple(allowed_roots)
        self._capabilities = Capabilities(nursery, base_env)
        self._warm = WarmPool(nursery, settings)
        if cooldowns is None:
            cooldowns = CooldownKeeper(recorder.store, time.time)
        live = LiveCalls()
        self._runner = CallRunner(
            settings=settings,
            backoff=backoff,
            rng=rng,
            capabilities=self._capabilities,
            cooldowns=cooldowns,
            watchers=[recorder, live],  # the store first: news is readable when told
            clock=cooldowns.clock,
            memory=MemoryAdmission(settings, available_mb=available_memory_mb),
            cache=ResponseCache(recorder.store, cooldowns.clock),
            budgets=BudgetKeeper(
                recorder.store, budget or BudgetSettings(), cooldowns.clock, recorder.flushed
            ),
            warm=self._warm,
        )
        self.jobs = Jobs(self._runner, nursery, live, recorder.store)
        """Jobs (`start`), and waiting for and cancelling any running call."""
        self._recorder = recorder
        self._replicas: ReplicaLink | None = None  # set by open_supervisor
        self._sessions = SessionKeeper(recorder.store)
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
        return resolve_call_directory(_path_text(path), roots=self.allowed_roots)

    def concurrency_limit(self, spec: ModelSpec) -> int:
        return self._runner.concurrency_limit(spec)

    def warm_ready(self, model: str) -> list[int]:
        """The PIDs of `model`'s warm processes waiting for a call now (its ``warm``)."""
        return self._warm.ready_pids(model)

    def running(self) -> dict[str, int]:
        """How many calls of each model are running or queued."""
        counts: dict[str, int] = {}
        for call in self._runner.calls.values():
            counts[call.request.spec.name] = counts.get(call.request.spec.name, 0) + 1
        return counts

    def queued(self) -> dict[str, int]:
        """How many calls of each model wait to start (for a concurrency slot or for memory);
        they are counted in `running` too."""
        counts: dict[str, int] = {}
        for call in self._runner.calls.values():
            if call.waiting_for is not None:
                counts[call.request.spec.name] = counts.get(call.request.spec.name, 0) + 1
        return counts

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
        statuses = await self._capabilities.status(
            list(self._models.values()),
            version_wait_s=version_wait_s,
            limit_of=self.concurrency_limit,
            running_of=lambda spec: self.running().get(spec.name, 0),
            probe=self._probe if probe else None,
        )
        return [self._with_cooldown(status) for status in statuses]

    def _with_cooldown(self, status: ModelStatus) -> ModelStatus:
        spec = self._models.get(status.model)
        if spec is None:
            return status
        record = self._runner.cooldowns.resting(spec)
        return attrs.evolve(
            status,
            queued=self.queued().get(spec.name, 0),
            account=account_of(spec),
            cooldown_until=record.until if record else None,
            cooldown_reason=record.reason if record else None,
        )

    async def _probe(self, spec: ModelSpec) -> str:
        try:
            await self.run(spec.name, _PROBE_PROMPT, timeout=60)
        except LLMError as exc:
            return f"{exc.kind}: {exc}"
        return "ok"

    # -- calls ----------------------------------------------------------------------------

    async def run(
        self,
        model: str,
        prompt: str,
        *,
        # Unlike a bare trio timeout, this is the call's budget: it picks the category, is
        # reported in the result, and ends in CallTimeoutError with the partial output.
        timeout: float | None = None,  # noqa: ASYNC109
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
            timeout: seconds for the whole call; None picks a category from the prompt.
            json_mode: ask for JSON, extract and validate it into ``parsed_json``.
            json_schema: the schema (JSON text or a mapping); None uses the default schema.
            cli_streaming: pass the model's streaming flags (``stream_args``) to the CLI. The
                text is returned whole either way, so a call that nobody watches needs none.
            system_prompt: instructions for the model: passed by the CLI's own flag where
                the model has one (``system_prompt_args``), else prepended to the prompt.
            cwd: the directory the CLI runs in (it must exist, and lie under the
                supervisor's `allowed_roots` when it has them; symlinks are resolved first);
                None: the model's ``cwd``, else this process's.
            fallbacks: models to try in order when `model` fails in a way its ``fallback_on``
                names (by default rate_limited -- also during a cooldown --,
                credentials_missing, cli_not_found, api_unreachable), within the same deadline;
                None: the model's configured ``fallbacks``; ``[]``: none. The result's ``model``
                names the model that answered and ``fallback_chain`` those passed over.
            session: a session name (1 to 200 of ``A-Za-z0-9._:-``): the first call opens it,
                later calls continue the conversation (the CLI's own resume where it has one,
                else the transcript so far), one call of a session at a time. A failed call
                adds nothing to it.
            cache: True: answer from the response cache when the same call (model and
                sub-model, command, directory, prompt, system prompt, JSON schema) succeeded
                before, without a process (``cached: true`` and ``cached_call_id`` in the
                result), else run it and keep its answer for the model's ``cache_ttl_s`` (else
                a day); None: as the model's ``cache_ttl_s`` says; False: never. A session's
                calls are never cached (True with a `session` is invalid_input).
            owner: who may see the call's record (`CallRecord.owner`; None: anyone).

        Returns:
            the `CallResult` of a successful call.

        Raises:
            LLMError: a subclass per failure; ``error.result`` holds what was collected.
            InvalidInputError, UnknownModelError: before anything starts.

        Cancellation: cancelling the caller ends the call: its process tree gets SIGTERM, the
        grace period, SIGKILL, and is reaped, in a shielded scope, before the cancellation
        reaches the caller (as trio's `run_process`).
        """
        request = self._request(
            model,
            prompt,
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
        async with self._sessions.turn(request, session) as turn:
            call = self._runner.new_call(turn.request, events=None, owner=owner)
            await self._runner.drive(call)  # in this task: nothing to hand over
            result = call.outcome()
            turn.succeeded(call.id, result)
        return result

    @asynccontextmanager
    async def open_stream(
        self,
        model: str,
        prompt: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (see run)
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
        request = self._request(
            model,
            prompt,
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
        async with self._sessions.turn(request, session) as turn:
            send, receive = trio.open_memory_channel[StreamEvent](_STREAM_BUFFER)
            call = self._runner.new_call(turn.request, events=send, owner=owner)
            self._nursery.start_soon(self._runner.drive, call)
            try:
                yield CallStream(call, receive)
            finally:
                receive.close()
                await _end(call)
                if call.error is None and call.result is not None:
                    turn.succeeded(call.id, call.result)

    async def compare(
        self,
        prompt: str,
        models: Sequence[str],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (see run)
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

        Returns:
            a `CompareResult`: one `CallResult` per model, in the order given, the answer or
            the error (``error_kind``, ``error``, output so far), each with its duration,
            usage and cost; one model failing or timing out never stops the others.

        Raises:
            InvalidInputError: `models` empty, longer than 8 or with a name twice; an invalid
                timeout or schema. UnknownModelError: any model (or `synthesize_with`) unknown.
                Both before any call starts.

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
        timeout: float | None = None,  # noqa: ASYNC109 (see run)
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
        request = self._request(
            model,
            prompt,
            timeout=timeout,
            json_mode=json_mode,
            json_schema=json_schema,
            cli_streaming=True,  # polled as it runs: the CLI should print as it goes
            system_prompt=system_prompt,
            cwd=cwd,
            fallbacks=fallbacks,
            session=session,
        )
        if session is None:
            return self.jobs.start(request, owner=owner)
        call_id: str = await self._nursery.start(self._session_job, request, session, owner)
        return call_id

    async def _session_job(
        self,
        request: CallRequest,
        session: str,
        owner: str | None,
        task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with self._sessions.turn(request, session) as turn:
            call = self._runner.new_call(turn.request, events=None, owner=owner, detached=True)
            task_status.started(call.id)
            call.log.info("llminst.job.started", owner=owner is not None, session=session)
            await self._runner.drive(call)
            if call.error is None and call.result is not None:
                turn.succeeded(call.id, call.result)

    def _request(
        self,
        model: str,
        prompt: str,
        *,
        timeout: float | None,
        json_mode: bool,
        json_schema: str | Mapping[str, Any] | None,
        cli_streaming: bool,
        system_prompt: str | None,
        cwd: str | os.PathLike[str] | None,
        fallbacks: Sequence[str] | None = None,
        session: str | None = None,
        cache: bool | None = None,
    ) -> CallRequest:
        real_cwd = None if cwd is None else self.resolve_directory(cwd)
        request = build_request(
            self._models,
            model=model,
            prompt=prompt,
            timeout=timeout,
            json_mode=json_mode,
            json_schema=json_schema,
            cli_streaming=cli_streaming,
            system_prompt=system_prompt,
            cwd=real_cwd,
        )
        request = with_fallbacks(self._models, request, fallbacks)
        ttl_s = cache_ttl(request.spec, cache, session=session)
        if ttl_s is not None:
            request = attrs.evolve(request, cache_ttl_s=ttl_s)
        if self._closed:
            raise RuntimeError("the supervisor is closed")
        return request


def _path_text(path: object) -> object:
    """A path object as its text; anything else as it is, for `resolve_call_directory` to
    refuse by its type."""
    return os.fspath(path) if isinstance(path, os.PathLike) else path


def _watches_cancels(asked: bool | None, store: CallStore | None) -> bool:
    """Whether to read cancel requests: as asked, else for a store another process can write."""
    if asked is not None:
        return asked
    return store is not None and not isinstance(store, MemoryStore)


async def _end(call: Call) -> None:
    """The caller is leaving: end the call if it runs, and wait (shielded) until it is over."""
    if not call.done.is_set():
        call.abandon()
        with trio.CancelScope(shield=True):
            await call.done.wait()


@asynccontextmanager
async def open_supervisor(
    *,
    models: Mapping[str, ModelSpec] = BUILTIN_MODELS,
    settings: Settings = Settings(),  # noqa: B008 - frozen: one shared default is safe
    base_env: Mapping[str, str] | None = None,
    backoff: BackoffPolicy = BackoffPolicy(),  # noqa: B008 - frozen, as above
    seed: int | None = None,
    subreaper: bool = False,
    store: CallStore | None = None,
    origin: CallOrigin = CallOrigin.LIBRARY,
    keep_prompts: bool = True,
    allowed_roots: Sequence[str] | None = None,
    wall_clock: Callable[[], float] = time.time,
    available_memory_mb: Callable[[], float | None] = read_available_mb,
    budget: BudgetSettings = BudgetSettings(),  # noqa: B008 - frozen, as above
    watch_cancels: bool | None = None,
    replicas: ReplicaLink | None = None,
) -> AsyncIterator[Supervisor]:
    """Open a supervisor; every call made through it is over when the block is left.

    Args:
        models: the models it knows (default: the built-ins).
        settings: concurrency, grace period, output cap, stderr tail.
        base_env: the environment CLIs start from (None: this process's, as it is at each
            spawn).
        backoff: the rate-limit backoff policy.
        seed: seeds the backoff jitter (for reproducible tests; None: unseeded).
        subreaper: make this process a child subreaper while the block runs (Linux only; a
            no-op elsewhere), so descendants that leave their call's process group with
            ``setsid`` are found, killed and reaped too. It assumes llminst owns every child
            of the process (stray zombie children are reaped), so it is for servers
            (``llminst serve``), not for libraries embedding llminst. See `reaper`.
        store: where every call (record and output, as it streams) and session is kept
            (None: a `MemoryStore` of this supervisor's own). The caller owns a store it
            passes: it opens and closes it around this block.
        origin: who asks for the calls (recorded with each).
        keep_prompts: record each call's prompt.
        allowed_roots: directories under which a call's ``cwd`` must lie (compared as real
            paths); None (the default): any directory; empty: no call may choose one.
        wall_clock: epoch seconds now, for reset times and cooldowns (tests pass a virtual
            one). Cooldowns are loaded from `store` when the block is entered.
        available_memory_mb: the machine's available memory in MB, read before a call starts
            (default: ``MemAvailable`` of /proc/meminfo; None: unknown, calls start). Tests
            pass their own to stand for a smaller machine.
        budget: spending limits over every model (a config's ``[budget]``); models carry
            their own. A call that would start once one is spent fails with
            ``budget_exceeded`` (spent, limit, reset time) before any process starts.
        watch_cancels: while calls run, read `store` every 0.2 s for requests from other
            processes to cancel them (`llminst cancel`) and cancel those; None: when `store`
            is one other processes can write (not a `MemoryStore`). With `replicas`, requests
            heard on their cancel bus end calls at once either way.
        replicas: this process among replicas sharing a Redis (`replicas.ReplicaLink`): calls
            are recorded under its writer id and heartbeat, dead replicas' calls are swept,
            cancels heard on its bus end calls at once, and models with ``concurrency_scope =
            "global"`` hold its leases while they run. None: the link a Redis `store`
            implies (`replicas.link_for_store`), else a process on its own.

    Cancellation: leaving the block (normally, by exception, or by cancellation) cancels every
    running call: each process group gets SIGTERM, the grace period, SIGKILL, and is reaped
    before the block is left.
    """
    ensure_logging()
    if replicas is None and store is not None:
        replicas = link_for_store(store, settings, writer=writer_identity())
    recorder = Recorder(
        MemoryStore() if store is None else store,
        origin=origin,
        keep_prompts=keep_prompts,
        writer=None if replicas is None else replicas.writer,
        health=None if replicas is None else replicas.health,
    )
    cooldowns = CooldownKeeper(recorder.store, wall_clock)
    await cooldowns.load()
    reaping = subreaper and reaper.enable()
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(recorder.run)
            supervisor = Supervisor(
                _CONSTRUCTED_BY_OPEN_SUPERVISOR,
                nursery,
                models=models,
                settings=settings,
                base_env=os.environ if base_env is None else base_env,
                backoff=backoff,
                rng=random.Random(seed),
                recorder=recorder,
                allowed_roots=allowed_roots,
                cooldowns=cooldowns,
                available_memory_mb=available_memory_mb,
                budget=budget,
            )
            polls = _watches_cancels(watch_cancels, store)
            if polls or replicas is not None:
                watch = CancelWatch(recorder.store)
                supervisor._runner.watchers.append(watch)
                if polls:
                    nursery.start_soon(watch.run)
                if replicas is not None:
                    supervisor._replicas = replicas
                    supervisor._runner.leases = replicas.leases
                    await nursery.start(replicas.run, recorder.store, watch.requested)
            try:
                yield supervisor
            finally:
                supervisor._closed = True
                nursery.cancel_scope.cancel()
                await supervisor._runner.end_all()
                with trio.CancelScope(shield=True):
                    await recorder.drain()
    finally:
        if reaping:
            reaper.disable()
