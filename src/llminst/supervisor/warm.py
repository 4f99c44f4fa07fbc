"""Warm processes: a model's CLI started ahead, initialized, waiting for its prompt (``warm = N``).

Only a CLI that reads its prompt as claude's stream-json input (``prompt_mode = "stream-json"``)
can start before its prompt is known. For each model with ``warm > 0`` the `WarmPool` keeps up
to ``warm`` processes of the launch its latest call used: a `Launch` is the invocation without
its stdin (argv, environment, directory), so the command, sub-model, streaming and schema flags,
system prompt and resume all match exactly, or the process is not used. Each one is started like
any attempt's (`process.start`: its own session, registered with the reaper), sent the
initialize request, and kept once the CLI has answered it. A call takes one whose launch equals
its own (`take`) and writes only its user message; a call that finds none starts cold, as before.

The pool refills in the background, in the supervisor's nursery, whenever a call of a warm model
starts. A process is retired (SIGTERM, grace, SIGKILL, reaped, shielded) when it has waited
``warm_idle_s``, when a call of its model wants another launch (a changed environment or config
gives another launch), when its model is reconfigured, and when the supervisor closes. The
resident memory of all warm processes together stays within ``[settings] warm_memory_mb``.

What it must never do: hand out a process that has exited or whose stdout has ended, keep a
process past the supervisor's end, or count against a model's concurrency limit (a call holds
its slot before it takes a warm process; an idle one holds none).
"""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Mapping
from typing import Any

import attrs
import trio
from attrs import define, frozen
from trio.lowlevel import FdStream

from .._core.command import Invocation
from .._core.spec import ModelSpec, PromptMode, Settings
from .._core.streamjson import initialize_line, is_initialize_response
from ..logs import get_logger
from . import process, procfs, reaper
from .pumps import read_ready

__all__ = ["Launch", "WarmPool", "WarmProcess"]

INITIALIZE_LIMIT_S = 60.0  # a CLI that has not answered its initialize request by then is stopped
_log = get_logger()


@frozen
class Launch:
    """What must match for a warm process to serve a call: the invocation minus its stdin
    (and minus the reaper's per-attempt marker)."""

    argv: tuple[str, ...]
    env: frozenset[tuple[str, str]]
    cwd: str | None

    @classmethod
    def of(cls, invocation: Invocation) -> Launch:
        env = frozenset(
            (name, value) for name, value in invocation.env.items() if name != reaper.MARKER_VAR
        )
        return cls(argv=invocation.argv, env=env, cwd=invocation.cwd)

    def environment(self, token: str) -> Mapping[str, str]:
        env = dict(self.env)
        if reaper.active():
            env[reaper.MARKER_VAR] = token
        return env


@define(eq=False)
class WarmProcess:
    """One process started ahead; `take` hands it to a call, which then owns it."""

    model: str
    launch: Launch
    proc: trio.Process
    token: str  # the reaper's marker in its environment (subreaper mode)
    leftover: bytes = b""  # stdout after the initialize answer, for the call to decode first
    waiting: trio.CancelScope = attrs.Factory(trio.CancelScope)  # cancelled to end the wait
    taken: bool = False

    def usable(self) -> bool:
        """Alive, and its stdout not at EOF (what is there already is kept for the call)."""
        if self.proc.poll() is not None:
            return False
        stdout = self.proc.stdout
        if not isinstance(stdout, FdStream):  # pragma: no cover - pipes are FdStreams on Linux
            return True
        data = read_ready(stdout.fileno())
        if data == b"":
            return False
        self.leftover += data or b""
        return True


class WarmPool:
    """The warm processes of a supervisor's models (see the module docstring)."""

    def __init__(self, nursery: trio.Nursery, settings: Settings) -> None:
        self._nursery = nursery
        self._settings = settings
        self._ready: dict[str, list[WarmProcess]] = {}  # by model, oldest first
        self._starting: dict[str, int] = {}
        self._wanted: dict[str, Launch] = {}
        self._typical_kb = 0  # the largest resident size a warm process reached so far
        self._tokens = map("warm-{}".format, itertools.count(1))

    def ready(self, model: str) -> int:
        """How many warm processes of `model` wait for a call now."""
        return len(self._ready.get(model, ()))

    def ready_pids(self, model: str) -> list[int]:
        """The PIDs of `model`'s processes waiting for a call now, oldest first."""
        return [warm.proc.pid for warm in self._ready.get(model, ())]

    def take(self, spec: ModelSpec, invocation: Invocation) -> WarmProcess | None:
        """A waiting process whose launch is `invocation`'s, now owned by the caller; None:
        start cold. Either way the pool refills for this launch in the background."""
        if spec.warm == 0 or spec.prompt_mode is not PromptMode.STREAM_JSON:
            return None
        launch = Launch.of(invocation)
        found = None
        ready = self._ready.get(spec.name, [])
        while ready and found is None:
            candidate = ready.pop(0)
            if candidate.launch == launch and candidate.usable():
                found = candidate
            else:
                candidate.waiting.cancel()  # another launch, or dead: retired by its task
        if found is not None:
            found.taken = True
            found.waiting.cancel()
            _log.info("llminst.warm.taken", model=spec.name, pid=found.proc.pid)
        self.want(spec, launch)
        return found

    def want(self, spec: ModelSpec, launch: Launch) -> None:
        """Keep `spec.warm` processes of `launch` for `spec`'s model (others are retired)."""
        if self._wanted.get(spec.name) != launch:
            self.retire(spec.name)
            self._wanted[spec.name] = launch
        self._refill(spec, launch)

    def _refill(self, spec: ModelSpec, launch: Launch) -> None:
        """Start what is missing, within the memory budget. Until one process has shown its
        size, one starts at a time (each that becomes ready calls this again)."""
        starting = self._starting.get(spec.name, 0)
        missing = spec.warm - self.ready(spec.name) - starting
        while missing > 0 and not (self._typical_kb == 0 and starting > 0):
            if not self._within_budget(also_starting=starting + 1):
                _log.info("llminst.warm.over_budget", model=spec.name, budget_mb=self._budget_mb)
                return
            starting = self._starting[spec.name] = starting + 1
            missing -= 1
            self._nursery.start_soon(self._keep, spec, launch)

    def retire(self, model: str) -> None:
        """Stop `model`'s waiting processes (its config or environment changed)."""
        self._wanted.pop(model, None)
        for warm in self._ready.pop(model, []):
            warm.waiting.cancel()

    @property
    def _budget_mb(self) -> int:
        return self._settings.warm_memory_mb

    def _held_kb(self) -> int:
        """The resident memory of the processes waiting for a call now."""
        waiting = (warm for ready in self._ready.values() for warm in ready)
        return sum(procfs.memory_kb(warm.proc.pid).get("VmRSS", 0) for warm in waiting)

    def _within_budget(self, *, also_starting: int) -> bool:
        """Whether `also_starting` more processes, each as large as the largest seen so far,
        fit in the budget beside those waiting."""
        return self._held_kb() + self._typical_kb * also_starting <= self._budget_mb * 1024

    async def _keep(self, spec: ModelSpec, launch: Launch) -> None:
        """Start one process of `launch`, initialize it, and keep it until a call takes it or
        it is retired; then, unless a call took it, kill and reap its tree."""
        warm, ready = None, False
        try:
            warm = await self._start(spec, launch)
            if warm is None:
                return
            with warm.waiting:
                if await self._initialize(warm):
                    ready = True
                    self._starting[spec.name] -= 1
                    if self._admit(spec, warm):
                        await process.wait_exited(warm.proc)
        finally:
            if not ready:
                self._starting[spec.name] -= 1
            if warm is not None:
                await self._end(spec, warm)

    def _admit(self, spec: ModelSpec, warm: WarmProcess) -> bool:
        """An initialized process waits for a call, if it fits in the budget (and the pool
        still wants its launch); the next one starts. False: end it."""
        rss = procfs.memory_kb(warm.proc.pid).get("VmRSS", 0)
        self._typical_kb = max(self._typical_kb, rss)
        if self._wanted.get(spec.name) != warm.launch:
            return False
        if self._held_kb() + rss > self._budget_mb * 1024:
            _log.info("llminst.warm.over_budget", model=spec.name, budget_mb=self._budget_mb)
            return False
        self._ready.setdefault(spec.name, []).append(warm)
        warm.waiting.deadline = trio.current_time() + spec.warm_idle_s
        _log.info("llminst.warm.ready", model=spec.name, pid=warm.proc.pid, rss_kb=rss)
        self._refill(spec, warm.launch)
        return True

    async def _start(self, spec: ModelSpec, launch: Launch) -> WarmProcess | None:
        token = next(self._tokens)
        try:
            proc = await process.start(
                list(launch.argv),
                env=launch.environment(token),
                stdin=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=launch.cwd,
            )
        except OSError as exc:  # the call that wanted it starts cold and reports the cause
            _log.info("llminst.warm.start_failed", model=spec.name, error=str(exc))
            return None
        warm = WarmProcess(model=spec.name, launch=launch, proc=proc, token=token)
        _log.info("llminst.warm.started", model=spec.name, pid=proc.pid)
        return warm

    async def _initialize(self, warm: WarmProcess) -> bool:
        """Send the initialize request and read stdout up to its answer; False: no answer."""
        assert warm.proc.stdin is not None and warm.proc.stdout is not None
        with trio.move_on_after(INITIALIZE_LIMIT_S):
            try:
                await warm.proc.stdin.send_all(initialize_line())
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return False
            buffered = b""
            while True:
                data = await warm.proc.stdout.receive_some(process.READ_SIZE)
                if not data:
                    return False
                buffered += data
                while b"\n" in buffered:
                    line, buffered = buffered.split(b"\n", 1)
                    if is_initialize_response(line):
                        warm.leftover = buffered
                        return True
        _log.info("llminst.warm.initialize_timeout", model=warm.model, pid=warm.proc.pid)
        return False

    async def _end(self, spec: ModelSpec, warm: WarmProcess) -> None:
        """The keeping task ends: forget the process, and unless a call took it, end it."""
        ready = self._ready.get(spec.name, [])
        if warm in ready:
            ready.remove(warm)
        if warm.taken:
            return
        log: Any = _log.bind(model=spec.name, pid=warm.proc.pid)
        with trio.CancelScope(shield=True):
            await process.kill_tree(warm.proc, self._settings.grace_period_s, log=log)
            await process.kill_escapees(warm.token, log=log)
        process.close_pipes(warm.proc)
        process.released(warm.proc)
        log.info("llminst.warm.retired", exit_code=warm.proc.returncode)
