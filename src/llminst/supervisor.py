"""The supervisor: the only place in llminst that starts, reads, signals, kills and reaps processes.

`open_supervisor()` opens a nursery that owns every running call. A call is one task in that
nursery, under its own cancel scope whose deadline covers queueing for the model's concurrency
limit, every attempt and every backoff sleep. Each attempt starts the CLI in a new session
(process group) with stdin from /dev/null (or the prompt written and closed), drains stdout and
stderr concurrently, and feeds stdout through the model's decoder into a bounded trio memory
channel read by the caller (backpressure, not unbounded buffering).

Cleanup is a contract. However an attempt ends (exit, deadline, caller cancelled, supervisor
closed) its process group gets SIGTERM, a grace period, SIGKILL, and is reaped, inside a shielded
scope; stragglers the CLI left in its group are killed too. With ``subreaper=True`` (Linux)
descendants that left the group with ``setsid`` are killed and reaped as well (`_reaper`). Leaving `open_supervisor()` cancels
every call, so every process it started is gone when the ``async with`` block ends. An attempt
whose CLI keeps printing the same connection or credentials error without answering is ended
the same way, early, instead of at its deadline (`_core.repeated_errors` decides when).

Quick commands (a CLI's version and help flags) are tasks of the same nursery: bounded in time,
one run at a time per executable, their answers kept (`_QuickCommands`), so a status can answer
at once with what is known while a slow version command finishes in the background.

Everything that is not I/O (argv, decoding, retry decisions, JSON extraction) lives in `_core`.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import attrs
import trio
from attrs import define, frozen

from . import _reaper
from ._core.command import Invocation, build_invocation
from ._core.config import (
    BUILTIN_MODELS,
    GENERIC_UNREACHABLE_PATTERNS,
    ModelSpec,
    Settings,
    split_model_name,
)
from ._core.decoders import make_decoder, strip_terminal_codes
from ._core.events import ErrorNotice, Event, FinalResult, RetryNotice, TextDelta, Truncated
from ._core.jsonmode import apply_json_mode, extract_json, parse_schema
from ._core.repeated_errors import RepeatedError, RepeatedErrorDetector, RepeatedErrorKind
from ._core.retry import BackoffPolicy, RateLimitHit, detect_rate_limit, plan_retry
from ._core.status import (
    NOT_CONFIGURED,
    NOT_INSTALLED,
    ModelStatus,
    QuickRun,
    VersionReport,
    describe_model,
    report_version,
)
from ._core.timeouts import TimeoutChoice, resolve_timeout
from .errors import (
    ApiUnreachableError,
    CallTimeoutError,
    CLINotFoundError,
    CredentialsMissingError,
    InvalidInputError,
    LLMError,
    ProcessFailedError,
    RateLimitedError,
    UnknownModelError,
)
from .logs import ensure_logging, get_logger
from .result import CallResult

__all__ = [
    "AttemptStarted",
    "CallStream",
    "RetryScheduled",
    "StreamEvent",
    "Supervisor",
    "open_supervisor",
]

_READ_SIZE = 65536
_STREAM_BUFFER = 64  # events queued for a slow consumer before the CLI is paused
_EOF_LINGER_S = 1.0  # after the tree is gone, how long to wait for a pipe held by an escapee
_HELP_TIMEOUT_S = 10.0  # a CLI's --help, read once per executable to see which flags it has
# A version command gets this long in the background (status waits only `version_wait_s` for
# it): on a loaded 2-core machine `gemini --version` took 3.1 s and `llm --version` 1.2 s.
VERSION_PROBE_LIMIT_S = 15.0
QUICK_COMMAND_RETRY_AFTER_S = 60.0  # then a version or help command that timed out runs again
_log = get_logger()


@frozen
class AttemptStarted:
    """A process was started for attempt number `attempt`."""

    attempt: int
    pid: int


@frozen
class RetryScheduled:
    """The last attempt was rate limited; the next starts after `delay_s`."""

    attempt: int
    delay_s: float
    reason: str
    reset_at: float | None


StreamEvent = TextDelta | RetryNotice | AttemptStarted | RetryScheduled
"""What `CallStream.events()` yields: text, the CLI's own retry notices, attempts and retries."""


# --------------------------------------------------------------------------------------------
# Process groups


def _group_has_live_members(pgid: int) -> bool:
    """True while some non-zombie process is in group `pgid`."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not sys.platform.startswith("linux"):
        return True
    # killpg succeeds for a group of zombies too (orphans that nobody reaps): look closer.
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def _signal_group(pgid: int, sig: signal.Signals, **context: Any) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return
    except PermissionError:  # pragma: no cover - a member changed its uid
        _log.warning("llminst.process.signal_refused", pgid=pgid, signal=sig.name, **context)
        return
    _log.info("llminst.process.killed", pgid=pgid, signal=sig.name, **context)


async def _wait_gone(proc: trio.Process, deadline: float) -> bool:
    """Wait until the leader is reaped and its group is empty, or `deadline`; True if gone."""
    pause = 0.002
    while True:
        if proc.returncode is None:
            with trio.move_on_at(min(deadline, trio.current_time() + pause)):
                await proc.wait()
        if proc.returncode is not None and not _group_has_live_members(proc.pid):
            return True
        now = trio.current_time()
        if now >= deadline:
            return False
        if proc.returncode is not None:  # only other members are left: poll, never past deadline
            await trio.sleep(min(pause, deadline - now))
        pause = min(pause * 2, 0.05)


async def _start(
    argv: list[str], *, env: Mapping[str, str], stdin: int, stderr: int, cwd: str | None = None
) -> trio.Process:
    """Start a process in a session (group) of its own, stdout piped, registered with the
    reaper so its stray-zombie sweep never takes it. Every process llminst starts starts here."""
    with _reaper.spawning() as pids:
        proc = await trio.lowlevel.open_process(
            argv,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
            env=dict(env),
            cwd=cwd,
        )
        pids.append(proc.pid)
    return proc


async def _kill_tree(proc: trio.Process, grace_s: float, **context: Any) -> None:
    """SIGTERM the process group, wait up to `grace_s`, SIGKILL it, reap. Call shielded."""
    if proc.returncode is None or _group_has_live_members(proc.pid):
        _signal_group(proc.pid, signal.SIGTERM, **context)
        if not await _wait_gone(proc, trio.current_time() + grace_s):
            _signal_group(proc.pid, signal.SIGKILL, **context)
            # SIGKILL cannot be ignored; the wait only covers the kernel tearing them down.
            await _wait_gone(proc, trio.current_time() + 5.0)


async def _kill_escapees(token: str, **context: Any) -> None:
    """Kill and reap the attempt's descendants that left its group (subreaper mode only).

    Call once the attempt's group is gone (its escapees have been re-parented to us by then).
    """
    killed: set[int] = set()
    pause = 0.001
    with trio.move_on_after(5.0):
        while _reaper.sweep_once((token,), killed):
            await trio.sleep(pause)
            pause = min(pause * 2, 0.02)
    if killed:
        _log.info("llminst.process.escapees_killed", pids=sorted(killed), **context)


class _Pump:
    """Reads one pipe to EOF, handing each chunk to `on_data`.

    Once the process tree is gone, a read waits at most `_EOF_LINGER_S` for EOF: a descendant
    that escaped the group may hold the pipe open forever.
    """

    def __init__(
        self, stream: trio.abc.ReceiveStream, on_data: Callable[[bytes | bytearray], Any]
    ) -> None:
        self._stream = stream
        self._on_data = on_data
        self._linger: float | None = None
        self._read_scope: trio.CancelScope | None = None
        self.gave_up = False

    async def run(self) -> None:
        while True:
            with trio.CancelScope() as scope:
                if self._linger is not None:
                    scope.deadline = trio.current_time() + self._linger
                self._read_scope = scope
                data = await self._stream.receive_some(_READ_SIZE)
            self._read_scope = None
            if scope.cancelled_caught:
                self.gave_up = True
                return
            if not data:
                return
            await self._on_data(data)

    def expect_eof(self, linger: float) -> None:
        self._linger = linger
        if self._read_scope is not None:
            self._read_scope.deadline = trio.current_time() + linger


# --------------------------------------------------------------------------------------------
# Calls

T = TypeVar("T")


@define
class _Request:
    model: str
    spec: ModelSpec
    submodel: str | None
    prompt: str
    timeout: TimeoutChoice
    schema: dict[str, Any] | None
    stream: bool


@define
class _Attempt:
    """What one process produced."""

    number: int
    parts: list[str] = attrs.Factory(list)
    size: int = 0
    final: FinalResult | None = None
    notices: list[RetryNotice] = attrs.Factory(list)
    errors: list[str] = attrs.Factory(list)
    stderr: bytearray = attrs.Factory(bytearray)
    truncated: bool = False
    exit_code: int | None = None
    stopped: RepeatedError | None = None  # ended early: the error line the CLI kept repeating

    @property
    def text(self) -> str:
        """The answer: the CLI's final text, or what streamed. The text of an error result is
        the error (it goes into the message), never the answer."""
        if self.final is not None and self.final.text and not self.final.is_error:
            return self.final.text
        return "".join(self.parts)

    def reported_error(self) -> tuple[str, str] | None:
        """The error the CLI reported in its output, as (where it came from, its text)."""
        if self.final is not None and self.final.is_error and self.final.text:
            return "the CLI's result line says", self.final.text
        if self.errors:
            return "the CLI's last error notice says", self.errors[-1]
        return None

    def error_text(self) -> str:
        """Every error the CLI reported (output notices, result line, stderr), not its answer."""
        reported = self.final.text if self.final is not None and self.final.is_error else None
        return "\n".join(p for p in (*self.errors, reported, self.stderr_tail()) if p)

    def failure_cause(self) -> str:
        """What the CLI gave as the cause of its failure: its result line's error when it has
        one (earlier notices and stderr may be about problems it got past), else every error."""
        if self.final is not None and self.final.is_error and self.final.text:
            return self.final.text
        return self.error_text()

    def stderr_tail(self) -> str:
        return strip_terminal_codes(self.stderr.decode("utf-8", "replace"))

    def diagnostics(self) -> str:
        """Everything the CLI said that may explain a failure."""
        pieces = [self.text[-65536:], *self.errors, self.stderr_tail()]
        if self.final is not None and self.final.is_error and self.final.text:
            pieces.append(self.final.text)
        return "\n".join(p for p in pieces if p)


@define
class _StopOnRepeatedErrors:
    """Ends an attempt early (cancels `scope`, around its process) once `detector` finds the
    CLI repeating a connection or credentials error; the attempt records which."""

    detector: RepeatedErrorDetector
    attempt: _Attempt
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    armed: bool = True

    def disarm(self) -> None:
        """The CLI exited by itself: nothing is left to stop."""
        self.armed = False

    def check(self, found: RepeatedError | None, context: Mapping[str, Any]) -> None:
        if found is None or not self.armed or self.attempt.stopped is not None:
            return
        self.attempt.stopped = found
        _log.warning(
            "llminst.attempt.stopped_early",
            **context,
            reason=found.kind.value,
            repeats=found.count,
            source=found.source,
        )
        self.scope.cancel()


@define
class _Call:
    id: str
    request: _Request
    scope: trio.CancelScope
    started: float
    done: trio.Event = attrs.Factory(trio.Event)
    attempts: int = 0
    last: _Attempt | None = None
    result: CallResult | None = None
    error: LLMError | None = None
    abandoned: bool = False
    native_json: bool = False  # the schema goes to the CLI's own flag, not into the prompt

    def log_context(self) -> dict[str, Any]:
        return {"call": self.id, "model": self.request.model, "attempt": self.attempts}


class CallStream:
    """A running call: iterate it for text chunks, then read `result`.

    ``async for chunk in stream`` yields answer text as the CLI writes it; `events()` yields
    the same text interleaved with attempt and retry events. When iteration ends the call is
    over: `result` holds the `CallResult` (also for failures) and `error` the `LLMError`, if any.
    `wait()` drains what is left and returns the result or raises the error.

    When a rate-limited attempt is retried, the text it produced was already yielded; `events()`
    marks the start of each attempt with `AttemptStarted`, and `result.output` holds only the
    last attempt's text.
    """

    def __init__(self, call: _Call, receive: trio.MemoryReceiveChannel[StreamEvent]) -> None:
        self._call = call
        self._receive = receive

    @property
    def model(self) -> str:
        return self._call.request.model

    @property
    def timeout(self) -> TimeoutChoice:
        return self._call.request.timeout

    @property
    def done(self) -> bool:
        return self._call.done.is_set()

    @property
    def result(self) -> CallResult:
        if self._call.result is None:
            raise RuntimeError("the call is still running; iterate the stream or await wait()")
        return self._call.result

    @property
    def error(self) -> LLMError | None:
        return self._call.error

    def __aiter__(self) -> _TextIterator:
        return _TextIterator(self._receive)

    def events(self) -> _EventIterator[StreamEvent]:
        return _EventIterator(self._receive)

    async def wait(self) -> CallResult:
        """Wait for the end of the call.

        Returns:
            the `CallResult` of a successful call.

        Raises:
            LLMError: the call failed; ``error.result`` holds what was collected.
        """
        async for _ in self._receive:
            pass
        await self._call.done.wait()
        if self._call.error is not None:
            raise self._call.error
        return self.result


class _EventIterator(Generic[T]):
    def __init__(self, receive: trio.MemoryReceiveChannel[T]) -> None:
        self._receive = receive

    def __aiter__(self) -> _EventIterator[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None


class _TextIterator:
    def __init__(self, receive: trio.MemoryReceiveChannel[StreamEvent]) -> None:
        self._events = _EventIterator(receive)

    def __aiter__(self) -> _TextIterator:
        return self

    async def __anext__(self) -> str:
        while True:
            event = await self._events.__anext__()
            if isinstance(event, TextDelta):
                return event.text


# --------------------------------------------------------------------------------------------
# The supervisor


class Supervisor:
    """Runs calls; made by `open_supervisor()`, valid inside its ``async with`` block."""

    def __init__(
        self,
        nursery: trio.Nursery,
        *,
        models: Mapping[str, ModelSpec],
        settings: Settings,
        base_env: Mapping[str, str] | None,
        backoff: BackoffPolicy,
        rng: random.Random,
    ) -> None:
        self._nursery = nursery
        self._models = dict(models)
        self.settings = settings
        self._base_env = base_env
        self._backoff = backoff
        self._rng = rng
        self._limiters: dict[str, trio.CapacityLimiter] = {}
        self._calls: dict[str, _Call] = {}
        self._quick = _QuickCommands(nursery)
        self._closed = False

    # -- models ---------------------------------------------------------------------------

    @property
    def models(self) -> Mapping[str, ModelSpec]:
        return dict(self._models)

    def configure(self, spec: ModelSpec) -> None:
        """Add or replace a model; running calls keep the spec they started with."""
        self._models[spec.name] = spec
        limiter = self._limiters.get(spec.name)
        if limiter is not None:
            limiter.total_tokens = self.concurrency_limit(spec)

    def resolve(self, model: str) -> tuple[ModelSpec, str | None]:
        """``claude:sonnet`` -> (the claude spec, ``sonnet``); raises UnknownModelError."""
        if model in self._models:
            return self._models[model], None
        base, submodel = split_model_name(model)
        if base not in self._models:
            raise UnknownModelError(model, list(self._models))
        return self._models[base], submodel

    def concurrency_limit(self, spec: ModelSpec) -> int:
        return spec.max_concurrency or self.settings.default_max_concurrency

    def running(self) -> dict[str, int]:
        """How many calls of each model are running or queued."""
        counts: dict[str, int] = {}
        for call in self._calls.values():
            counts[call.request.spec.name] = counts.get(call.request.spec.name, 0) + 1
        return counts

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
        """
        specs = list(self._models.values())
        results: dict[str, ModelStatus] = {}
        version_deadline = trio.current_time() + version_wait_s

        async def one(spec: ModelSpec) -> None:
            env = self._environment_for(spec)
            path = self.find_executable(spec)
            version = await self._version(spec, path, env, version_deadline)
            probed = await self._probe(spec) if probe and path else None
            results[spec.name] = describe_model(
                spec,
                executable_path=path,
                version=version,
                env=env,
                max_concurrency=self.concurrency_limit(spec),
                running=self.running().get(spec.name, 0),
                probe=probed,
            )

        async with trio.open_nursery() as nursery:
            for spec in specs:
                nursery.start_soon(one, spec)
        return [results[spec.name] for spec in specs]

    def find_executable(self, spec: ModelSpec) -> str | None:
        """Where the model's executable is, on the PATH its CLI would get; None if absent."""
        env = self._environment_for(spec)
        return shutil.which(spec.executable, path=env.get("PATH", os.defpath))

    def _environment_for(self, spec: ModelSpec) -> Mapping[str, str]:
        return build_invocation(spec, "", base_env=self._base_env_now()).env

    def _base_env_now(self) -> Mapping[str, str]:
        return os.environ if self._base_env is None else self._base_env

    async def _version(
        self, spec: ModelSpec, path: str | None, env: Mapping[str, str], deadline: float
    ) -> VersionReport:
        """The model's version once its command has answered; until `deadline` at most."""
        argv = spec.version_argv
        if path is None:
            return NOT_INSTALLED
        if not argv:
            return NOT_CONFIGURED
        try:
            key = ("version", path, os.stat(path).st_mtime_ns, argv)
        except OSError:
            return NOT_INSTALLED  # removed since it was found
        run = await self._quick.answer(
            key, list(argv), env, limit_s=VERSION_PROBE_LIMIT_S, deadline=deadline
        )
        return report_version(
            argv, run, limit_s=VERSION_PROBE_LIMIT_S, retry_after_s=QUICK_COMMAND_RETRY_AFTER_S
        )

    async def supports_flag(self, spec: ModelSpec, flag: str) -> bool:
        """Whether the installed CLI's help (`ModelSpec.help_argv`) lists `flag` (a capability probe).

        The help text is read once per executable path and modification time (one run shared
        by concurrent callers), so upgrading the CLI is noticed; a CLI that is missing, cannot
        start or is too slow counts as not supporting the flag (and is asked again a minute
        later, `QUICK_COMMAND_RETRY_AFTER_S`).
        """
        path = self.find_executable(spec)
        if path is None:
            return False
        try:
            key = ("help", path, os.stat(path).st_mtime_ns)
        except OSError:
            return False
        argv = [path, *spec.help_argv[1:]]
        env = self._environment_for(spec)
        run = await self._quick.answer(key, argv, env, limit_s=_HELP_TIMEOUT_S, deadline=math.inf)
        if run is None or not run.exited:
            return False
        listed = re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", run.output)
        return listed is not None

    async def _probe(self, spec: ModelSpec) -> str:
        try:
            await self.run(spec.name, "Reply with the single word: ok", timeout=60)
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
        stream: bool = False,
    ) -> CallResult:
        """Run one call to completion.

        Args:
            model: a configured model name, optionally with a sub-model (``claude:sonnet``).
            prompt: the prompt, passed to the CLI byte for byte.
            timeout: seconds for the whole call; None picks a category from the prompt.
            json_mode: ask for JSON, extract and validate it into ``parsed_json``.
            json_schema: the schema (JSON text or a mapping); None uses the default schema.
            stream: use the CLI's streaming flags (the text is still returned whole).

        Returns:
            the `CallResult` of a successful call.

        Raises:
            LLMError: a subclass per failure; ``error.result`` holds what was collected.

        Cancellation: cancelling the caller kills the call's process tree (SIGTERM, grace,
        SIGKILL, reaped) before `run` returns control.
        """
        async with self.open_stream(
            model,
            prompt,
            timeout=timeout,
            json_mode=json_mode,
            json_schema=json_schema,
            stream=stream,
        ) as call_stream:
            return await call_stream.wait()

    @asynccontextmanager
    async def open_stream(
        self,
        model: str,
        prompt: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (see run)
        json_mode: bool = False,
        json_schema: str | Mapping[str, Any] | None = None,
        stream: bool = True,
    ) -> AsyncIterator[CallStream]:
        """Start a call and yield a `CallStream` of its output.

        Arguments are those of `run`. Invalid input raises before anything starts. Leaving the
        block before the call ends (break, exception, cancellation) kills the call's process
        tree and waits for it to be reaped.
        """
        request = self._request(model, prompt, timeout, json_mode, json_schema, stream)
        if self._closed:
            raise RuntimeError("the supervisor is closed")
        send, receive = trio.open_memory_channel[StreamEvent](_STREAM_BUFFER)
        now = trio.current_time()
        call = _Call(
            id=uuid.uuid4().hex[:12],
            request=request,
            scope=trio.CancelScope(deadline=now + request.timeout.seconds),
            started=now,
        )
        self._calls[call.id] = call
        self._nursery.start_soon(self._drive, call, send)
        try:
            async with receive:
                yield CallStream(call, receive)
        finally:
            if not call.done.is_set():
                call.abandoned = True
                call.scope.cancel()
                with trio.CancelScope(shield=True):
                    await call.done.wait()

    def _request(
        self,
        model: str,
        prompt: str,
        timeout: float | None,
        json_mode: bool,
        json_schema: str | Mapping[str, Any] | None,
        stream: bool,
    ) -> _Request:
        if not isinstance(prompt, str):
            raise InvalidInputError(f"prompt must be a string, got {type(prompt).__name__}")
        spec, submodel = self.resolve(model)
        if json_schema is not None and not json_mode:
            json_mode = True
        schema = parse_schema(json_schema) if json_mode else None
        choice = resolve_timeout(prompt, explicit=timeout, default=spec.timeout_category)
        return _Request(model, spec, submodel, prompt, choice, schema, stream)

    async def _drive(self, call: _Call, send: trio.MemorySendChannel[StreamEvent]) -> None:
        """The task that runs one call; it never raises except trio.Cancelled on shutdown."""
        request = call.request
        _log.info(
            "llminst.call.started",
            **call.log_context(),
            timeout_s=request.timeout.seconds,
            timeout_category=request.timeout.category,
            prompt_chars=len(request.prompt),
        )
        async with send:
            try:
                with call.scope:
                    async with self._limiter(request.spec):
                        call.result = await self._attempts(call, send)
                if call.scope.cancelled_caught:
                    self._fail(call, self._cancel_error(call))
            except LLMError as exc:
                self._fail(call, exc)
            except Exception as exc:
                _log.exception("llminst.call.crashed", **call.log_context())
                self._fail(call, LLMError(f"internal error in llminst: {exc!r}; please report it"))
            finally:
                # Only the supervisor's own cancellation gets here without a result (it may
                # arrive wrapped in an exception group, so it is not matched by type).
                if call.result is None:
                    self._fail(call, LLMError("the supervisor shut down before the call finished"))
                # Set before the channel closes, so a consumer that sees the end sees the result;
                # and before logging, so nothing can leave a waiting caller hanging.
                self._calls.pop(call.id, None)
                call.done.set()
                _log.info(
                    "llminst.call.finished",
                    **call.log_context(),
                    success=call.error is None,
                    error=None if call.error is None else call.error.kind,
                    elapsed_s=round(trio.current_time() - call.started, 4),
                )

    def _fail(self, call: _Call, error: LLMError) -> None:
        if error.result is None:
            error.result = self._result(call, success=False, error=error)
        call.error = error
        call.result = error.result

    def _cancel_error(self, call: _Call) -> LLMError:
        if call.abandoned:
            return LLMError("the caller cancelled the call")
        request = call.request
        seconds = request.timeout.seconds
        return CallTimeoutError(
            f"model {request.model!r} timed out after {seconds:g} s "
            f"(category {request.timeout.category}, attempt {call.attempts})"
            + _timeout_advice(request.spec, call.last),
            timeout_s=seconds,
        )

    @asynccontextmanager
    async def _limiter(self, spec: ModelSpec) -> AsyncIterator[None]:
        limiter = self._limiters.get(spec.name)
        if limiter is None:
            limiter = self._limiters[spec.name] = trio.CapacityLimiter(self.concurrency_limit(spec))
        async with limiter:
            yield

    async def _attempts(self, call: _Call, send: trio.MemorySendChannel[StreamEvent]) -> CallResult:
        request = call.request
        native_args = request.spec.json_schema_args
        if request.schema is not None and native_args:
            call.native_json = await self.supports_flag(request.spec, native_args[0])
        while True:
            call.attempts += 1
            attempt = _Attempt(number=call.attempts)
            call.last = attempt
            await self._run_attempt(call, attempt, send)
            failure = self._classify(call, attempt)
            if failure is None:
                return self._finish(call)
            if not isinstance(failure, RateLimitHit):
                raise failure
            now = time.time()
            remaining = call.scope.deadline - trio.current_time()
            decision = plan_retry(
                attempt=attempt.number,
                max_attempts=request.spec.max_attempts,
                hit=failure,
                policy=self._backoff,
                now=now,
                deadline=now + remaining,
                rand=self._rng.random(),
            )
            if decision.delay_s is None:
                raise RateLimitedError(
                    f"model {request.model!r} is rate limited ({failure.excerpt!r}) after "
                    f"{attempt.number} attempt(s): {decision.reason}",
                    reset_at=decision.reset_at,
                )
            _log.info(
                "llminst.retry.scheduled",
                **call.log_context(),
                wait_s=round(decision.delay_s, 3),
                reason=decision.reason,
            )
            await self._send(
                call,
                send,
                RetryScheduled(
                    attempt.number, decision.delay_s, decision.reason, decision.reset_at
                ),
            )
            await trio.sleep(decision.delay_s)

    def _classify(self, call: _Call, attempt: _Attempt) -> LLMError | RateLimitHit | None:
        """None for success, a RateLimitHit to retry, or the error to raise."""
        spec = call.request.spec
        if attempt.stopped is not None:
            return _repeated_error(call.request.model, spec, attempt, attempt.stopped)
        failed_by_cli = attempt.final is not None and attempt.final.is_error
        if attempt.exit_code == 0 and not failed_by_cli:
            return None
        said = attempt.diagnostics()
        auth = _first_match(spec.auth_patterns, said)
        if auth is not None:
            fix = f" Fix: {spec.auth_hint}." if spec.auth_hint else ""
            return CredentialsMissingError(
                f"model {call.request.model!r}: the CLI reports missing or invalid credentials "
                f"({auth!r}).{fix}"
            )
        for pattern, fix in spec.error_hints.items():
            line = _first_match((pattern,), said)
            if line is not None:
                return ProcessFailedError(
                    f"model {call.request.model!r}: the CLI failed: {line!r}. Fix: {fix}.",
                    exit_code=attempt.exit_code,
                    stderr_tail=attempt.stderr_tail(),
                )
        hit = self._rate_limit(spec, attempt, said)
        if hit is not None:
            return hit
        if _first_match(spec.unreachable_patterns, attempt.failure_cause()) is not None:
            return ApiUnreachableError(
                f"{_failure_message(call.request.model, attempt)}\n"
                f"That suggests the CLI cannot reach its API: {_unreachable_fix(spec)}.",
                exit_code=attempt.exit_code,
                stderr_tail=attempt.stderr_tail(),
            )
        return ProcessFailedError(
            _failure_message(call.request.model, attempt),
            exit_code=attempt.exit_code,
            stderr_tail=attempt.stderr_tail(),
        )

    def _rate_limit(self, spec: ModelSpec, attempt: _Attempt, said: str) -> RateLimitHit | None:
        # CLIs print reset times ("resets 1am") in the local time of this machine.
        local_tz = datetime.now().astimezone().tzinfo or UTC
        hit = detect_rate_limit(said, spec.rate_limit_patterns, now=time.time(), tz=local_tz)
        notice = next((n for n in reversed(attempt.notices) if n.rate_limited), None)
        if notice is None:
            return hit
        # The CLI's own structured notice carries the most precise hint.
        return RateLimitHit(
            pattern=hit.pattern if hit else "cli notice",
            excerpt=hit.excerpt if hit else notice.message[:200],
            retry_after_s=notice.delay_s
            if notice.delay_s is not None
            else (hit.retry_after_s if hit else None),
            reset_at=notice.reset_at
            if notice.reset_at is not None
            else (hit.reset_at if hit else None),
        )

    def _finish(self, call: _Call) -> CallResult:
        attempt = call.last
        assert attempt is not None
        schema = call.request.schema
        if schema is None:
            return self._result(call, success=True)
        try:
            parsed = extract_json(attempt.text, schema)
        except LLMError as exc:
            exc.result = self._result(call, success=False, error=exc)
            raise
        return self._result(call, success=True, parsed_json=parsed)

    def _result(
        self, call: _Call, *, success: bool, error: LLMError | None = None, parsed_json: Any = None
    ) -> CallResult:
        attempt = call.last or _Attempt(number=0)
        final = attempt.final
        return CallResult(
            model=call.request.model,
            output=attempt.text,
            success=success,
            exit_code=attempt.exit_code,
            attempts=call.attempts,
            duration_s=round(trio.current_time() - call.started, 6),
            timeout_s=call.request.timeout.seconds,
            timeout_category=call.request.timeout.category,
            parsed_json=parsed_json,
            usage=final.usage if final else None,
            cost_usd=final.cost_usd if final else None,
            session_id=final.session_id if final else None,
            stderr_tail=attempt.stderr_tail(),
            truncated=attempt.truncated,
            error=error.message if error else None,
            error_kind=error.kind if error else None,
        )

    # -- one attempt: the process ---------------------------------------------------------

    def _invocation(self, call: _Call) -> Invocation:
        request = call.request
        prompt = request.prompt
        if request.schema is not None and not call.native_json:
            prompt = apply_json_mode(prompt, request.schema)
        return build_invocation(
            request.spec,
            prompt,
            base_env=self._base_env_now(),
            stream=request.stream,
            json_mode=request.schema is not None,
            submodel=request.submodel,
            native_schema=request.schema if call.native_json else None,
        )

    async def _spawn(self, call: _Call, invocation: Invocation, token: str) -> trio.Process:
        spec = call.request.spec
        path = invocation.env.get("PATH", os.defpath)
        if shutil.which(invocation.argv[0], path=path) is None:
            if shutil.which(invocation.argv[0], mode=os.F_OK, path=path) is not None:
                raise ProcessFailedError(
                    f"model {spec.name!r}: cannot execute {invocation.argv[0]!r} (it exists but "
                    "is not executable); make it executable (chmod +x) or fix the model's command",
                    exit_code=None,
                )
            raise CLINotFoundError(call.request.model, invocation.argv[0], spec.install_hint)
        env = dict(invocation.env)
        if _reaper.active():
            env[_reaper.MARKER_VAR] = token  # how escapees from the group are recognised
        try:
            return await _start(
                list(invocation.argv),
                env=env,
                stdin=subprocess.PIPE if invocation.stdin is not None else subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd=invocation.cwd,
            )
        except FileNotFoundError:
            if invocation.cwd is not None and not os.path.isdir(invocation.cwd):  # noqa: ASYNC240
                raise InvalidInputError(
                    f"model {spec.name!r}: working directory {invocation.cwd!r} does not exist; "
                    "fix the model's cwd"
                ) from None
            raise CLINotFoundError(
                call.request.model, invocation.argv[0], spec.install_hint
            ) from None
        except PermissionError as exc:
            raise ProcessFailedError(
                f"model {spec.name!r}: cannot execute {invocation.argv[0]!r} ({exc.strerror}); "
                "make it executable (chmod +x) or fix the model's command",
                exit_code=None,
            ) from None
        except OSError as exc:
            fix = ""
            if exc.errno in (errno.EMFILE, errno.ENFILE):
                fix = (
                    "; too many calls are running for this process's descriptor limit: lower "
                    "the models' max_concurrency or raise the limit (ulimit -n)"
                )
            raise ProcessFailedError(
                f"model {spec.name!r}: could not start {invocation.argv[0]!r}: {exc}{fix}",
                exit_code=None,
            ) from None

    async def _run_attempt(
        self, call: _Call, attempt: _Attempt, send: trio.MemorySendChannel[StreamEvent]
    ) -> None:
        invocation = self._invocation(call)
        token = uuid.uuid4().hex
        proc = await self._spawn(call, invocation, token)
        context = {**call.log_context(), "pid": proc.pid}
        _log.info("llminst.attempt.started", **context, prompt_via=invocation.prompt_via)
        started = trio.current_time()
        decoder = make_decoder(
            call.request.spec.output_format, max_line_bytes=self.settings.max_output_bytes
        )
        tail_limit = self.settings.stderr_tail_bytes
        stop = _StopOnRepeatedErrors(self._repeated_error_detector(call.request.spec), attempt)

        async def on_stdout(data: bytes | bytearray) -> None:
            for event in decoder.feed(bytes(data)):
                await self._on_event(call, attempt, event, send)
                stop.check(stop.detector.feed_event(event), context)

        async def on_stderr(data: bytes | bytearray) -> None:
            attempt.stderr += data
            del attempt.stderr[:-tail_limit]
            stop.check(stop.detector.feed_stderr(bytes(data)), context)

        assert proc.stdout is not None and proc.stderr is not None
        pumps = [_Pump(proc.stdout, on_stdout), _Pump(proc.stderr, on_stderr)]
        swept = False
        try:
            await self._send(call, send, AttemptStarted(attempt.number, proc.pid))
            with stop.scope:
                swept = await self._drain(proc, invocation, pumps, stop, token, context)
            if attempt.stopped is None:
                for event in decoder.close():
                    await self._on_event(call, attempt, event, send)
        finally:
            with trio.CancelScope(shield=True):
                await _kill_tree(proc, self.settings.grace_period_s, **context)
                if not swept and proc.returncode is not None:
                    await _kill_escapees(token, **context)
                for stream in (proc.stdin, proc.stdout, proc.stderr):
                    if stream is not None:
                        await stream.aclose()
            if proc.returncode is not None:
                _reaper.released(proc.pid)
            attempt.exit_code = proc.returncode
            _log.info(
                "llminst.attempt.finished",
                **context,
                exit_code=proc.returncode,
                output_bytes=attempt.size,
                elapsed_s=round(trio.current_time() - started, 4),
                pipes_abandoned=any(p.gave_up for p in pumps) or None,
            )

    async def _drain(
        self,
        proc: trio.Process,
        invocation: Invocation,
        pumps: list[_Pump],
        stop: _StopOnRepeatedErrors,
        token: str,
        context: Mapping[str, Any],
    ) -> bool:
        """Pump the pipes (and feed stdin) until the CLI exits and its pipes end; True once
        what it left behind (in its group, and escapees) is killed."""
        async with trio.open_nursery() as nursery:
            for pump in pumps:
                nursery.start_soon(pump.run)
            if invocation.stdin is not None and proc.stdin is not None:
                nursery.start_soon(_feed_stdin, proc.stdin, invocation.stdin)
            await proc.wait()
            stop.disarm()  # it ended by itself: what it said is classified as usual
            # The leader is gone: whatever it left in its group is killed now, and a pipe
            # still held open by a process outside the group gets a bounded wait for EOF.
            await _kill_tree(proc, self.settings.grace_period_s, **context)
            await _kill_escapees(token, **context)
            for pump in pumps:
                pump.expect_eof(_EOF_LINGER_S)
        return True

    def _repeated_error_detector(self, spec: ModelSpec) -> RepeatedErrorDetector:
        return RepeatedErrorDetector(
            unreachable_patterns=spec.unreachable_patterns,
            auth_patterns=spec.auth_patterns,
            repeats=self.settings.stop_after_repeated_errors,
        )

    async def _on_event(
        self,
        call: _Call,
        attempt: _Attempt,
        event: Event,
        send: trio.MemorySendChannel[StreamEvent],
    ) -> None:
        if isinstance(event, TextDelta):
            text = self._within_cap(call, attempt, event.text)
            if text:
                attempt.parts.append(text)
                await self._send(call, send, TextDelta(text))
        elif isinstance(event, FinalResult):
            cap = self.settings.max_output_bytes
            if event.text is not None and _utf8_size(event.text) > cap:
                clipped = _clip(event.text, cap)
                self._mark_truncated(call, attempt, len(event.text) - len(clipped), "final")
                event = attrs.evolve(event, text=clipped)
            attempt.final = event
        elif isinstance(event, RetryNotice):
            attempt.notices.append(event)
            _log.info("llminst.cli.retry_notice", **call.log_context(), delay_s=event.delay_s)
            await self._send(call, send, event)
        elif isinstance(event, ErrorNotice):
            attempt.errors.append(event.message)
        elif isinstance(event, Truncated):
            self._mark_truncated(call, attempt, event.dropped_bytes, event.reason)

    def _within_cap(self, call: _Call, attempt: _Attempt, text: str) -> str:
        cap = self.settings.max_output_bytes
        if attempt.truncated and attempt.size >= cap:
            return ""
        size = _utf8_size(text)
        if attempt.size + size <= cap:
            attempt.size += size
            return text
        kept = _clip(text, cap - attempt.size)
        attempt.size = cap
        self._mark_truncated(call, attempt, size - len(kept.encode("utf-8", "replace")), "cap")
        return kept

    def _mark_truncated(self, call: _Call, attempt: _Attempt, dropped: int, reason: str) -> None:
        if not attempt.truncated:
            _log.warning(
                "llminst.output.truncated",
                **call.log_context(),
                cap_bytes=self.settings.max_output_bytes,
                reason=reason,
            )
        attempt.truncated = True

    async def _send(
        self, call: _Call, send: trio.MemorySendChannel[StreamEvent], event: StreamEvent
    ) -> None:
        # A consumer that stopped reading cancels the call when it leaves its block.
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await send.send(event)


@define
class _QuickProbe:
    """One run of a quick command, shared by everyone who asks for its key while it runs."""

    done: trio.Event = attrs.Factory(trio.Event)
    run: QuickRun | None = None
    ended_at: float = math.inf

    def worth_rerunning(self, now: float) -> bool:
        """It timed out or could not start, long enough ago that things may have changed."""
        stuck = self.run is not None and not self.run.exited
        return stuck and now >= self.ended_at + QUICK_COMMAND_RETRY_AFTER_S


class _QuickCommands:
    """Runs quick commands (version and help flags) as tasks of the supervisor's nursery, so
    they outlive an impatient caller but never the supervisor (closing it kills and reaps
    them). At most one run per key at a time; the answer of a run that exited is kept, one that
    timed out or could not start is reported as such and run again by the first caller
    `QUICK_COMMAND_RETRY_AFTER_S` after it ended (a loaded machine may have calmed down; a
    command that always hangs costs one run a minute at most)."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._probes: dict[Hashable, _QuickProbe] = {}

    async def answer(
        self,
        key: Hashable,
        argv: list[str],
        env: Mapping[str, str],
        *,
        limit_s: float,
        deadline: float,
    ) -> QuickRun | None:
        """What `argv` came to, starting it if nothing is running or known for `key`; None if
        it is still running at `deadline` (it keeps running, for `limit_s` in all)."""
        probe = self._probes.get(key)
        if probe is None or probe.worth_rerunning(trio.current_time()):
            probe = _QuickProbe()
            self._probes[key] = probe
            self._nursery.start_soon(self._run, probe, argv, env, limit_s)
        with trio.move_on_at(deadline):
            await probe.done.wait()
        return probe.run

    async def _run(
        self, probe: _QuickProbe, argv: list[str], env: Mapping[str, str], limit_s: float
    ) -> None:
        command = os.path.basename(argv[0])
        started = trio.current_time()
        _log.debug("llminst.quick_command.started", command=command, limit_s=limit_s)
        try:
            probe.run = run = await _run_briefly(argv, env, limit_s)
        finally:
            probe.ended_at = trio.current_time()
            probe.done.set()  # also when the supervisor closes: nobody waits forever
        elapsed_s = round(probe.ended_at - started, 3)
        if run.start_error is not None:
            _log.warning(
                "llminst.quick_command.not_started", command=command, error=run.start_error
            )
        elif run.exit_code is None:
            _log.warning("llminst.quick_command.timed_out", command=command, limit_s=limit_s)
        else:
            _log.debug(
                "llminst.quick_command.exited",
                command=command,
                exit_code=run.exit_code,
                elapsed_s=elapsed_s,
            )


async def _run_briefly(argv: list[str], env: Mapping[str, str], limit_s: float) -> QuickRun:
    """Run a quick command (a version or help flag) for at most `limit_s` seconds.

    Returns what it printed (stdout and stderr) and its exit code; the exit code is None when
    it ran out of time. Its process group is killed and reaped however this ends, including
    by cancellation.
    """
    try:
        proc = await _start(argv, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    except OSError as exc:
        return QuickRun(start_error=exc.strerror or str(exc))
    assert proc.stdout is not None
    chunks: list[bytes] = []
    try:
        with trio.move_on_after(limit_s) as scope:
            while len(chunks) < 64 and (data := await proc.stdout.receive_some(_READ_SIZE)):
                chunks.append(bytes(data))
            await proc.wait()
    finally:
        with trio.CancelScope(shield=True):
            await _kill_tree(proc, 0.5, probe=argv[0])
            await proc.stdout.aclose()
        if proc.returncode is not None:
            _reaper.released(proc.pid)
    output = b"".join(chunks).decode("utf-8", "replace")
    return QuickRun(output=output, exit_code=None if scope.cancelled_caught else proc.returncode)


async def _feed_stdin(stdin: trio.abc.SendStream, data: bytes) -> None:
    try:
        await stdin.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the CLI exited (or closed stdin) before reading it all; its exit code tells why
    finally:
        with trio.CancelScope(shield=True):
            await stdin.aclose()


def _first_match(patterns: tuple[str, ...], text: str) -> str | None:
    for pattern in patterns:
        match = re.search(pattern, text, re.IGNORECASE)
        if match:
            line_start = text.rfind("\n", 0, match.start()) + 1
            line_end = text.find("\n", match.end())
            return text[line_start : line_end if line_end != -1 else None].strip()[:200]
    return None


def _failure_message(model: str, attempt: _Attempt) -> str:
    """How the CLI ended and what it said, each piece labelled with where it came from."""
    said = _what_it_said(attempt)
    detail = f"; {said}" if said else "; it printed nothing on stderr and reported no error"
    return f"model {model!r}: the CLI {_how_it_ended(attempt)}{detail}"


def _how_it_ended(attempt: _Attempt) -> str:
    code = attempt.exit_code
    if code is not None and code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    final = attempt.final
    if final is not None and final.is_error:
        # claude marks API failures "subtype: success, is_error: true": no such label.
        subtype = final.subtype or ""
        label = f" ({subtype})" if subtype.lower() not in ("", "success", "error") else ""
        return f"reported a failure{label} with exit code {code}"
    return f"exited with code {code}"


def _what_it_said(attempt: _Attempt) -> str:
    """The CLI's own structured error first (it names the cause), then the end of stderr."""
    pieces = []
    reported = attempt.reported_error()
    if reported is not None:
        where, text = reported
        pieces.append(f"{where}: {_last_lines(text)}")
    tail = attempt.stderr_tail().strip()
    if tail:
        pieces.append(f"stderr ends with:\n{_last_lines(tail)}")
    return "; ".join(pieces)


def _last_lines(text: str, count: int = 10, limit: int = 2000) -> str:
    return "\n".join(text.strip().splitlines()[-count:])[-limit:]


def _timeout_advice(spec: ModelSpec, attempt: _Attempt | None) -> str:
    """The end of a timeout message: the partial output, or, when no answer came, what the
    CLI said instead and what that suggests (a larger timeout does not fix a dead network)."""
    partial = attempt.text if attempt is not None else ""
    said = _what_it_said(attempt) if attempt is not None else ""
    if attempt is None or partial.strip() or not said:
        return (
            f"; {len(partial)} characters of partial output are in the result. "
            "Pass a larger timeout, or ask for a shorter answer."
        )
    errors = attempt.error_text()
    auth = _first_match(spec.auth_patterns, errors)
    # Advice only, so the common wordings count too (codex's spec leaves out its WebSocket
    # line to avoid stopping early, yet after a whole timeout of it the network is the suspect).
    unreachable = _first_match((*spec.unreachable_patterns, *GENERIC_UNREACHABLE_PATTERNS), errors)
    if auth is not None:
        fix = f" Fix: {spec.auth_hint}." if spec.auth_hint else ""
        advice = (
            f"That suggests missing or invalid credentials ({auth!r}); a larger timeout "
            f"will not help.{fix}"
        )
    elif unreachable is not None:
        advice = (
            f"That suggests the CLI cannot reach its API ({unreachable!r}); a larger timeout "
            f"will not help: {_unreachable_fix(spec)}."
        )
    else:
        advice = "If that is an error, fix its cause; otherwise pass a larger timeout."
    return f" before any answer text arrived; {said}\n{advice}"


def _repeated_error(
    model: str, spec: ModelSpec, attempt: _Attempt, found: RepeatedError
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
        fix = f" Fix: {spec.auth_hint}." if spec.auth_hint else ""
        return CredentialsMissingError(head + fix)
    return ApiUnreachableError(
        f"{head} It cannot reach its API: {_unreachable_fix(spec)}.",
        exit_code=attempt.exit_code,
        stderr_tail=attempt.stderr_tail(),
    )


def _unreachable_fix(spec: ModelSpec) -> str:
    return spec.unreachable_hint or (
        "check the network, the CLI's API base URL and any proxy (HTTPS_PROXY)"
    )


def _utf8_size(text: str) -> int:
    # isascii() reads a flag CPython keeps on every str: no second pass over the output.
    return len(text) if text.isascii() else len(text.encode("utf-8", "replace"))


def _clip(text: str, max_bytes: int) -> str:
    """The longest prefix of `text` that fits in `max_bytes` of UTF-8."""
    return text.encode("utf-8", "replace")[: max(0, max_bytes)].decode("utf-8", "ignore")


@asynccontextmanager
async def open_supervisor(
    *,
    models: Mapping[str, ModelSpec] | None = None,
    settings: Settings | None = None,
    base_env: Mapping[str, str] | None = None,
    backoff: BackoffPolicy | None = None,
    seed: int | None = None,
    subreaper: bool = False,
) -> AsyncIterator[Supervisor]:
    """Open a supervisor whose nursery owns every call made through it.

    Args:
        models: the models it knows (default: the built-ins).
        settings: concurrency, grace period, output cap, stderr tail.
        base_env: the environment CLIs start from (default: this process's, read at each spawn).
        backoff: the rate-limit backoff policy.
        seed: seeds the backoff jitter (for reproducible tests).
        subreaper: make this process a child subreaper while the block runs (Linux only; a
            no-op elsewhere), so descendants that leave their call's process group with
            ``setsid`` are found, killed and reaped too. It assumes llminst owns every child
            of the process (stray zombie children are reaped), so it is for servers
            (``llminst serve``), not for libraries embedding llminst. See `llminst._reaper`.

    Leaving the block (normally, by exception, or by cancellation) cancels every running call:
    each process group gets SIGTERM, the grace period, SIGKILL, and is reaped before the block
    is left.
    """
    ensure_logging()
    reaping = subreaper and _reaper.enable()
    try:
        async with trio.open_nursery() as nursery:
            supervisor = Supervisor(
                nursery,
                models=BUILTIN_MODELS if models is None else models,
                settings=settings or Settings(),
                base_env=base_env,
                backoff=backoff or BackoffPolicy(),
                rng=random.Random(seed),
            )
            try:
                yield supervisor
            finally:
                supervisor._closed = True
                nursery.cancel_scope.cancel()
    finally:
        if reaping:
            _reaper.disable()
