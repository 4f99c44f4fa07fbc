"""What each model's CLI is and can do: where its executable is, its version, the flags its help
lists, and a model's readiness (`Capabilities.status`).

`locate` is the one place an executable is looked up (on the ``PATH`` the CLI would get); the
supervisor asks it for status, for capability probes, and to explain a CLI that would not start.
Version and help commands are quick commands (`QuickCommands`): tasks of the supervisor's
nursery, bounded in time, one run at a time per executable, their answers kept per executable
path and modification time (so an upgrade is noticed), so a status answers at once with what is
known while a slow version command finishes in the background.

What it must never do: run a model's prompt (a status probe goes through the caller's `run`),
or run a command that is not the model's configured version or help command.
"""

from __future__ import annotations

import math
import os
import re
import shutil
from collections.abc import Awaitable, Callable, Hashable, Mapping

import attrs
import trio
from attrs import define

from .._core.command import environment
from .._core.spec import ModelSpec
from .._core.status import (
    NOT_CONFIGURED,
    NOT_INSTALLED,
    ModelStatus,
    QuickRun,
    VersionReport,
    describe_model,
    report_version,
)
from ..logs import get_logger
from .process import run_briefly

__all__ = [
    "QUICK_COMMAND_RETRY_AFTER_S",
    "VERSION_PROBE_LIMIT_S",
    "Capabilities",
    "QuickCommands",
    "locate",
]

HELP_TIMEOUT_S = 10.0  # a CLI's --help, read once per executable to see which flags it has
# A version command gets this long in the background (status waits only `version_wait_s` for
# it): on a loaded 2-core machine `gemini --version` took 3.1 s and `llm --version` 1.2 s.
VERSION_PROBE_LIMIT_S = 15.0
QUICK_COMMAND_RETRY_AFTER_S = 60.0  # then a version or help command that timed out runs again
_log = get_logger()


def locate(executable: str, env: Mapping[str, str], *, mode: int = os.F_OK | os.X_OK) -> str | None:
    """Where `executable` is, on the ``PATH`` of `env` (a path with a slash is checked as is);
    None if no file there allows `mode` (``os.F_OK``: merely exists)."""
    return shutil.which(executable, mode=mode, path=env.get("PATH", os.defpath))


class Capabilities:
    """The supervisor's knowledge of each model's CLI; valid while its nursery runs."""

    def __init__(self, nursery: trio.Nursery, base_env: Mapping[str, str]) -> None:
        self.base_env = base_env
        """What CLIs start from (`os.environ` itself: this process's, as it is at each spawn)."""
        self._quick = QuickCommands(nursery)

    def environment(self, spec: ModelSpec) -> dict[str, str]:
        """The environment `spec`'s CLI (and its version and help commands) start with."""
        return environment(spec, self.base_env)

    def find_executable(self, spec: ModelSpec) -> str | None:
        """Where the model's executable is, on the PATH its CLI would get; None if absent."""
        return locate(spec.executable, self.environment(spec))

    async def supports_flag(self, spec: ModelSpec, flag: str) -> bool:
        """Whether the installed CLI's help (`ModelSpec.help_argv`) lists `flag`.

        The help text is read once per executable path and modification time (one run shared
        by concurrent callers), so upgrading the CLI is noticed; a CLI that is missing, cannot
        start or is too slow counts as not supporting the flag (and is asked again a minute
        later, `QUICK_COMMAND_RETRY_AFTER_S`).

        Cancellation: the help command keeps running in the supervisor's nursery (for at
        most `HELP_TIMEOUT_S`), so the next caller gets its answer.
        """
        env = self.environment(spec)
        path = locate(spec.executable, env)
        if path is None:
            return False
        try:
            key = ("help", path, os.stat(path).st_mtime_ns)
        except OSError:
            return False
        argv = [path, *spec.help_argv[1:]]
        run = await self._quick.answer(key, argv, env, limit_s=HELP_TIMEOUT_S, deadline=math.inf)
        if run is None or not run.exited:
            return False
        listed = re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", run.output)
        return listed is not None

    async def status(
        self,
        specs: list[ModelSpec],
        *,
        version_wait_s: float,
        limit_of: Callable[[ModelSpec], int],
        running_of: Callable[[ModelSpec], int],
        probe: Callable[[ModelSpec], Awaitable[str]] | None,
    ) -> list[ModelStatus]:
        """Each model's readiness, read concurrently (see `Supervisor.status`).

        Args:
            specs: the models.
            version_wait_s: how long to wait for version commands still running.
            limit_of: a model's concurrency limit.
            running_of: how many calls of a model are running now.
            probe: runs a tiny prompt on an installed model and says ``ok`` or the error;
                None: no probe.
        """
        results: dict[str, ModelStatus] = {}
        version_deadline = trio.current_time() + version_wait_s

        async def one(spec: ModelSpec) -> None:
            env = self.environment(spec)
            path = locate(spec.executable, env)
            version = await self._version(spec, path, env, version_deadline)
            probed = await probe(spec) if probe is not None and path else None
            results[spec.name] = describe_model(
                spec,
                executable_path=path,
                version=version,
                env=env,
                max_concurrency=limit_of(spec),
                running=running_of(spec),
                probe=probed,
            )

        async with trio.open_nursery() as nursery:
            for spec in specs:
                nursery.start_soon(one, spec)
        return [results[spec.name] for spec in specs]

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


class QuickCommands:
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
            probe.run = run = await run_briefly(argv, env, limit_s)
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
