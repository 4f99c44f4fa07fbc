"""What `get_llm_status` reports about a model, and the hint for fixing what is missing.

Pure: the supervisor finds the executable, runs the version command and passes what came of it
(or that it is still running) and the environment in; this module only assembles the report.
It never runs a command: whether a version command exists at all is the spec's
business (`ModelSpec.version_argv`). Credential values are never read into it, only names.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from attrs import asdict, frozen

from .config import ModelSpec

__all__ = [
    "NOT_CONFIGURED",
    "NOT_INSTALLED",
    "ModelStatus",
    "QuickRun",
    "VersionReport",
    "VersionState",
    "describe_model",
    "parse_version",
    "report_version",
]

_VERSION = re.compile(r"\d+(?:\.\d+)+(?:[-+.][0-9A-Za-z.]+)?")

VersionState = Literal["ok", "probing", "timed_out", "failed", "not_configured", "not_installed"]
"""Where a model's version stands: read (``ok``), its command still running in the background
(``probing``), it ran out of time (``timed_out``) or failed (``failed``), the model has no
version command (``not_configured``), or its executable is missing (``not_installed``)."""


@frozen(kw_only=True)
class QuickRun:
    """What came of running a quick command (a version or help flag).

    Attributes:
        output: what it printed (stdout and stderr together), possibly cut short.
        exit_code: its exit status (negative: killed by that signal); None when it did not exit
            by itself (it ran out of time, or could not start).
        start_error: why it could not start, when it could not.
    """

    output: str = ""
    exit_code: int | None = None
    start_error: str | None = None

    @property
    def exited(self) -> bool:
        """It ran to its own end: its answer holds until the executable changes."""
        return self.exit_code is not None


@frozen(kw_only=True)
class VersionReport:
    """A model's version, or why there is none yet."""

    version: str | None
    state: VersionState
    note: str | None


NOT_INSTALLED = VersionReport(version=None, state="not_installed", note=None)
NOT_CONFIGURED = VersionReport(
    version=None,
    state="not_configured",
    note="no version_command configured (set one in the model's config to see its version)",
)


@frozen(kw_only=True)
class ModelStatus:
    """One model's readiness.

    Attributes:
        model: the model name.
        command: the argv the model runs (without the prompt).
        available: the executable was found.
        executable_path: where it was found.
        version: what its version command printed (first version-looking token), once read.
        version_state: ok, probing, timed_out, failed, not_configured or not_installed.
        version_note: why there is no version (yet), in words: the command still running, the
            seconds it ran out of, its exit code and last line, or that none is configured.
        credentials_set: names of the model's credential variables that are set (never values).
        credentials_missing: names of those that are not set (a CLI may still be logged in).
        timeout_category / timeout_s: the model's default category and its seconds.
        max_concurrency: concurrent calls allowed; running: calls running or queued now.
        hint: what to do to make the model usable, when something is missing.
        probe: the result of a tiny real prompt when asked for (``ok`` or the error).
    """

    model: str
    command: list[str]
    available: bool
    executable_path: str | None
    version: str | None
    version_state: VersionState
    version_note: str | None
    credentials_set: list[str]
    credentials_missing: list[str]
    timeout_category: str
    timeout_s: float
    max_concurrency: int
    running: int
    hint: str | None
    probe: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_version(output: str) -> str | None:
    """The first version-looking token of a ``--version`` output, else its first line."""
    match = _VERSION.search(output)
    if match:
        return match.group(0)
    first = output.strip().splitlines()[0] if output.strip() else ""
    return first[:80] or None


def report_version(
    argv: Sequence[str], run: QuickRun | None, *, limit_s: float, retry_after_s: float
) -> VersionReport:
    """What to say about a version command `argv` whose run is `run` (None: still running).

    `limit_s` is how long a run may take before it is killed, `retry_after_s` when one that
    timed out or could not start is tried again. A command that exits non-zero is a failure
    even if it printed something version-like (it may be an error message).
    """
    shown = _shown(argv)
    if run is None:
        note = f"probing: `{shown}` is still running (for up to {limit_s:g} s); ask again"
        return VersionReport(version=None, state="probing", note=note)
    again = f"tried again {retry_after_s:g} s later"
    if run.start_error is not None:
        note = f"`{shown}` could not start: {run.start_error}; {again}"
        return VersionReport(version=None, state="failed", note=note)
    if run.exit_code is None:
        note = f"version probe timed out after {limit_s:g} s (`{shown}`); {again}"
        return VersionReport(version=None, state="timed_out", note=note)
    last_line = (run.output.strip().splitlines() or [""])[-1].strip()[:200]
    said = f": {last_line}" if last_line else " and printed nothing"
    if run.exit_code < 0:
        note = f"`{shown}` was killed by signal {-run.exit_code}{said}"
        return VersionReport(version=None, state="failed", note=note)
    if run.exit_code != 0:
        note = f"`{shown}` failed with exit {run.exit_code}{said}"
        return VersionReport(version=None, state="failed", note=note)
    version = parse_version(run.output)
    if version is None:
        return VersionReport(version=None, state="failed", note=f"`{shown}` printed nothing")
    return VersionReport(version=version, state="ok", note=None)


def _shown(argv: Sequence[str]) -> str:
    """The command as a person would type it: the program's name, not its full path."""
    if not argv:
        return ""
    return shlex.join([os.path.basename(argv[0]), *argv[1:]])


def describe_model(
    spec: ModelSpec,
    *,
    executable_path: str | None,
    version: VersionReport,
    env: Mapping[str, str],
    max_concurrency: int,
    running: int,
    probe: str | None = None,
) -> ModelStatus:
    """Assemble a model's status; `env` is the environment the CLI would get."""
    present = [name for name in spec.credential_env if env.get(name)]
    missing = [name for name in spec.credential_env if not env.get(name)]
    return ModelStatus(
        model=spec.name,
        command=list(spec.command),
        available=executable_path is not None,
        executable_path=executable_path,
        version=version.version,
        version_state=version.state,
        version_note=version.note,
        credentials_set=present,
        credentials_missing=missing,
        timeout_category=spec.timeout_category.value,
        timeout_s=spec.timeout_category.seconds,
        max_concurrency=max_concurrency,
        running=running,
        hint=_hint(spec, executable_path, present),
        probe=probe,
    )


def _hint(
    spec: ModelSpec, executable_path: str | None, credentials_present: list[str]
) -> str | None:
    if executable_path is None:
        install = spec.install_hint or f"install {spec.executable!r} and put it on PATH"
        return f"{spec.executable!r} not found: {install}"
    if spec.credential_env and not credentials_present and spec.auth_hint:
        return f"no credential variable set ({', '.join(spec.credential_env)}); if calls fail: {spec.auth_hint}"
    return None
