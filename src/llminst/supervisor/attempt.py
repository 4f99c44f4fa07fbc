"""One attempt of a call: start the CLI, move its output into the `AttemptOutput`, end its tree.

`run_attempt` starts the invocation (`process.start`), then drains the CLI: on Linux in the
call's own task, told by a `pumps.Watch` which pipe is ready and when the CLI has exited;
elsewhere stdout is read in the call's task while one helper task reads stderr and another
waits for the exit. Once the CLI has exited, what it left in its group (and, in subreaper mode,
what escaped the group) is killed, and pipes still open get `EOF_LINGER_S` of silence before
they are given up. The output record decides what is kept and what the caller sees; this module
forwards that, and ends the attempt early when the record says the CLI keeps repeating an error.

Cleanup is a contract: however the attempt ends (exit, early stop, deadline, the caller
cancelled, the supervisor closed), its process group gets SIGTERM, the grace period, SIGKILL,
and is reaped, in a shielded scope, before `run_attempt` returns or raises.

What it must never do: decide what an attempt's outcome is (`_core.outcome` does), or return
with the CLI's process group alive.
"""

from __future__ import annotations

import errno
import math
import os
import subprocess
from contextlib import ExitStack
from typing import TYPE_CHECKING

import attrs
import trio
from trio.lowlevel import FdStream

from .._core.command import Invocation
from .._core.errors import CLINotFoundError, InvalidInputError, ProcessFailedError
from .._core.events import RetryNotice
from .._core.output import AttemptOutput, Forward
from .._core.request import CallRequest
from .._core.streamjson import after_initialize
from . import process
from .capabilities import locate
from .memory import SAMPLE_INTERVAL_S
from .pumps import Linger, PipeReader, StdinWriter, Watch, feed_stdin, read_ready
from .stream import AttemptStarted

if TYPE_CHECKING:
    from .call import Call
    from .memory import CallMemory
    from .warm import WarmProcess

__all__ = ["run_attempt"]

EOF_LINGER_S = 1.0  # after the tree is gone, how long to wait for a pipe held by an escapee
ONE_TASK = Watch.available()
"""Read an attempt's pipes and see its exit in one task (Linux); False: a task per pipe."""


async def run_attempt(
    call: Call,
    output: AttemptOutput,
    invocation: Invocation,
    *,
    grace_s: float,
    token: str,
    memory: CallMemory | None = None,
    warm: WarmProcess | None = None,
) -> None:
    """Run one attempt of `call` to its end; `output` gets what it produced and its exit code.

    `token` is the attempt's reaper marker (in its environment in subreaper mode): processes
    carrying it that escaped the group are killed too. `memory` (if given) measures the
    process tree while it runs, and kills it if it grows past its cap (`CallMemory.watching`).
    carrying it that escaped the group are killed too. `warm`: a process started ahead for this
    invocation (`warm.WarmPool.take`), already initialized: it gets only the prompt's message,
    and what it printed after its initialize answer is decoded first; cleanup is the same.

    Raises:
        LLMError: the CLI could not be started (not found, not executable, no descriptors,
            no such working directory).

    Cancellation: the process tree is killed (SIGTERM, `grace_s`, SIGKILL) and reaped in a
    shielded scope before the cancellation goes on.
    """
    if warm is None:
        proc = await _spawn(call.request, invocation)
        attempt = _Attempt(call, output, proc, grace_s=grace_s, token=token, memory=memory)
        await attempt.run(invocation)
        return
    assert invocation.stdin is not None  # a warm model's prompt goes to stdin
    invocation = attrs.evolve(invocation, stdin=after_initialize(invocation.stdin))
    attempt = _Attempt(call, output, warm.proc, grace_s=grace_s, token=warm.token, memory=memory)
    await attempt.run(invocation, already=warm.leftover)


class _Attempt:
    """One started process, its pipes, and the bookkeeping of its cleanup."""

    def __init__(
        self,
        call: Call,
        output: AttemptOutput,
        proc: trio.Process,
        *,
        grace_s: float,
        token: str,
        memory: CallMemory | None,
    ) -> None:
        self.call = call
        self.output = output
        self.proc = proc
        self.grace_s = grace_s
        self.token = token
        self.log = call.log.bind(attempt=output.number, pid=proc.pid)
        self.draining: trio.CancelScope | None = None  # cancelled to stop reading early
        self.tree_gone = False  # the leader is reaped and what it left is killed
        self.pipes_abandoned = False  # held open after the tree was gone, past the linger
        self.stop_logged = False
        self.truncation_logged = False
        self.memory = memory
        # A call that ends within its first SAMPLE_INTERVAL_S is never handed to the sampler
        # (no wake-up, no /proc read); one that runs on is, from then on.
        self.sample_from = math.inf if memory is None else trio.current_time() + SAMPLE_INTERVAL_S
        self.sampled: ExitStack | None = None  # leaves the sampler when the attempt ends

    async def run(self, invocation: Invocation, *, already: bytes | None = None) -> None:
        warm = already is not None
        self.log.info("llminst.attempt.started", prompt_via=invocation.prompt_via, warm=warm)
        started = trio.current_time()
        try:
            await self.call.emit(AttemptStarted(self.output.number, self.proc.pid))
            if already:
                await self._on_stdout(already)
            try:
                await self._drain(invocation.stdin)
            finally:
                if self.sampled is not None:
                    self.sampled.close()
            await self._forward(self.output.end_of_stdout())
        finally:
            if not self.tree_gone:
                with trio.CancelScope(shield=True):
                    await process.kill_tree(self.proc, self.grace_s, log=self.log)
                    if self.proc.returncode is not None:
                        await process.kill_escapees(self.token, log=self.log)
            process.close_pipes(self.proc)
            process.released(self.proc)
            self.output.exit_code = self.proc.returncode
            self.log.info(
                "llminst.attempt.finished",
                exit_code=self.proc.returncode,
                output_bytes=self.output.size,
                dropped_bytes=self.output.dropped_bytes or None,
                elapsed_s=round(trio.current_time() - started, 4),
                pipes_abandoned=self.pipes_abandoned or None,
                peak_rss_mb=None
                if self.memory is None or self.memory.peak_mb is None
                else round(self.memory.peak_mb, 1),
            )

    async def _drain(self, stdin: bytes | None) -> None:
        """Read both pipes (and feed stdin) until the CLI has exited and its pipes ended, or
        it is stopped early."""
        watch = None
        pipes = (self.proc.stdout, self.proc.stderr)
        if ONE_TASK and all(isinstance(pipe, FdStream) for pipe in pipes):
            try:
                watch = Watch(self.proc.pid)
            except OSError:  # no pidfds on this kernel
                watch = None
        if watch is None:
            await self._drain_by_tasks(stdin)
            return
        with watch:
            await self._drain_watched(watch, stdin)

    async def _drain_watched(self, watch: Watch, stdin: bytes | None) -> None:
        """All of it in this task, told by `watch` what is ready (Linux)."""
        assert isinstance(self.proc.stdout, FdStream) and isinstance(self.proc.stderr, FdStream)
        handlers = {
            self.proc.stdout.fileno(): self._on_stdout,
            self.proc.stderr.fileno(): self._on_stderr,
        }
        for fd in handlers:
            watch.readable(fd)
        writer = None
        if stdin is not None and isinstance(self.proc.stdin, FdStream):
            writer = StdinWriter(self.proc.stdin, stdin)
            watch.writable(writer.fd)
        linger_until = math.inf  # once the tree is gone: give up on pipes silent this long
        while handlers or not self.tree_gone:
            ready = await watch.wait(min(linger_until, self.sample_from))
            if trio.current_time() >= self.sample_from:
                self._hand_to_sampler()
            if ready is None:
                if trio.current_time() < linger_until:
                    continue  # woken to hand the tree to the sampler
                self.pipes_abandoned = True
                return
            for fd in ready:
                if fd == watch.exit_fd:
                    watch.forget(fd)
                    await self._after_exit()
                elif writer is not None and fd == writer.fd:
                    if writer.write_some():
                        watch.forget(fd)
                        writer.close()
                        writer = None
                elif fd in handlers and (data := read_ready(fd)) is not None:
                    if not data:
                        watch.forget(fd)
                        del handlers[fd]
                        continue
                    await handlers[fd](data)
                if self.tree_gone:  # handing data on took time of its own: not counted
                    linger_until = trio.current_time() + EOF_LINGER_S
            if self.output.stopped is not None:
                return

    async def _drain_by_tasks(self, stdin: bytes | None) -> None:
        """stdout in this task, stderr and the exit in one task each (where `Watch` is not)."""
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._hand_to_sampler()  # this path waits in tasks: no loop of its own to do it later
        async with trio.open_nursery() as nursery:
            self.draining = nursery.cancel_scope
            linger = Linger(nursery.cancel_scope)
            stdout = PipeReader(self.proc.stdout, linger)
            stderr = PipeReader(self.proc.stderr, linger)
            nursery.start_soon(stderr.run, self._on_stderr)
            if stdin is not None and self.proc.stdin is not None:
                nursery.start_soon(feed_stdin, self.proc.stdin, stdin)
            nursery.start_soon(self._watch_exit, linger)
            await stdout.run(self._on_stdout)
        ended_early = nursery.cancel_scope.cancelled_caught and self.output.stopped is None
        self.pipes_abandoned = ended_early and not (stdout.at_eof and stderr.at_eof)

    def _hand_to_sampler(self) -> None:
        """Have the supervisor's sampler measure the tree from now on (measured once now)."""
        self.sample_from = math.inf
        if self.memory is not None and not self.tree_gone:
            self.memory.check(self.proc, self.log)
            self.sampled = ExitStack()
            self.sampled.enter_context(self.memory.watching(self.proc, self.log))

    async def _watch_exit(self, linger: Linger) -> None:
        await process.wait_exited(self.proc)
        await self._after_exit()
        linger.start(EOF_LINGER_S)

    async def _after_exit(self) -> None:
        """The CLI exited by itself: what it said is classified as usual (no early stop), and
        whatever it left in its group is killed now (in subreaper mode also what left the
        group); a pipe still held open after that gets a bounded wait for EOF."""
        if self.proc.poll() is None:  # pragma: no cover - its exit was seen
            await self.proc.wait()
        self.output.process_exited()
        await process.kill_tree(self.proc, self.grace_s, log=self.log)
        await process.kill_escapees(self.token, log=self.log)
        self.tree_gone = True

    async def _on_stdout(self, data: bytes) -> None:
        await self._forward(self.output.receive_stdout(data))
        self._stop_if_repeating()

    async def _on_stderr(self, data: bytes) -> None:
        self.output.receive_stderr(data)
        self._stop_if_repeating()

    async def _forward(self, forwards: list[Forward]) -> None:
        if self.output.truncated and not self.truncation_logged:
            self.truncation_logged = True
            self.log.warning(
                "llminst.output.truncated",
                cap_bytes=self.output.cap_bytes,
                reason=self.output.truncation,
                dropped_bytes=self.output.dropped_bytes,
            )
        for forward in forwards:
            if isinstance(forward, RetryNotice):
                self.log.info("llminst.cli.retry_notice", delay_s=forward.delay_s)
            await self.call.emit(forward)

    def _stop_if_repeating(self) -> None:
        found = self.output.stopped
        if found is None or self.stop_logged:
            return
        self.stop_logged = True
        self.log.warning(
            "llminst.attempt.stopped_early",
            reason=found.kind.value,
            repeats=found.count,
            source=found.source,
        )
        if self.draining is not None:  # read by tasks: end them (one task sees `stopped`)
            self.draining.cancel()


async def _spawn(request: CallRequest, invocation: Invocation) -> trio.Process:
    """Start the invocation; a failure to start is an `LLMError` that names the fix."""
    try:
        return await process.start(
            list(invocation.argv),
            env=invocation.env,
            stdin=subprocess.PIPE if invocation.stdin is not None else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=invocation.cwd,
        )
    except OSError as exc:
        raise _start_error(request, invocation, exc) from None


def _start_error(request: CallRequest, invocation: Invocation, exc: OSError) -> Exception:
    spec, executable = request.spec, invocation.argv[0]
    missing = isinstance(exc, FileNotFoundError | PermissionError)
    if missing and locate(executable, invocation.env) is None:
        if locate(executable, invocation.env, mode=os.F_OK) is not None:
            return ProcessFailedError(
                f"model {spec.name!r}: cannot execute {executable!r} (it exists but "
                "is not executable); make it executable (chmod +x) or fix the model's command",
                exit_code=None,
            )
        return CLINotFoundError(request.model, executable, spec.install_hint)
    if isinstance(exc, FileNotFoundError):
        if invocation.cwd is not None and not os.path.isdir(invocation.cwd):
            return InvalidInputError(
                f"model {spec.name!r}: working directory {invocation.cwd!r} does not exist; "
                "fix the model's cwd"
            )
        return CLINotFoundError(request.model, executable, spec.install_hint)
    if isinstance(exc, PermissionError):
        return ProcessFailedError(
            f"model {spec.name!r}: cannot execute {executable!r} ({exc.strerror}); "
            "make it executable (chmod +x) or fix the model's command",
            exit_code=None,
        )
    fix = ""
    if exc.errno in (errno.EMFILE, errno.ENFILE):
        fix = (
            "; too many calls are running for this process's descriptor limit: lower "
            "the models' max_concurrency or raise the limit (ulimit -n)"
        )
    return ProcessFailedError(
        f"model {spec.name!r}: could not start {executable!r}: {exc}{fix}", exit_code=None
    )
