"""What `get_llm_status` reports about a model, the hint for fixing what is missing, and the
`llminst status` table.

Pure: the supervisor finds the executable, runs the version command and passes what came of it
(or that it is still running) and the environment in; this module only assembles the report and
lays it out. It never runs a command: whether a version command exists at all is the spec's
business (`ModelSpec.version_argv`). Credential values are never read into it, only names.
"""

from __future__ import annotations

import os
import re
import shlex
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from attrs import asdict, frozen

from .cooldowns import iso_utc
from .spec import ModelSpec

__all__ = [
    "NOT_CONFIGURED",
    "NOT_INSTALLED",
    "ModelStatus",
    "QuickRun",
    "VersionReport",
    "VersionState",
    "describe_model",
    "parse_version",
    "render_status_table",
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
        account: the account its calls count against (models sharing one cool down together).
        cooldown_until: when its account's cooldown ends (epoch seconds), while one is in
            force: calls fail at once with rate_limited (or go to a fallback) until then.
        cooldown_reason: what the CLI said when it was rate limited, during a cooldown.
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
    account: str | None = None
    cooldown_until: float | None = None
    cooldown_reason: str | None = None

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


# --------------------------------------------------------------------------------------------
# The `llminst status` table

_HEADER = ("MODEL", "READY", "VERSION", "CATEGORY", "CREDENTIALS SET", "HINT / PATH")
_GAP = "  "
_MIN_CREDENTIALS = 12  # narrower than a credential name only when the hint would get < 24
_MIN_LAST_COLUMN = 24  # narrower than this, each model gets a block of lines instead
_VERSION_WORDS: Mapping[str, str] = {
    "probing": "probing",
    "timed_out": "timed out",
    "failed": "failed",
}

_Row = tuple[str, str, str, str, str, str]


def render_status_table(statuses: Sequence[ModelStatus], *, width: int) -> list[str]:
    """The status as lines that fit in `width` columns (taken as 20 if less).

    A table: the credential names and the hint (or path) wrap onto continuation lines under
    their own column, so nothing is cut (a word longer than its column is split); a version
    note and a probe result get a line of their own. A terminal too narrow for the table gets
    one block of lines per model instead.
    """
    rows: list[_Row] = [_HEADER]
    for status in statuses:
        rows.append(_main_row(status))
        if status.available and status.version is None and status.version_note:
            rows.append(("", "", "", "", "version:", status.version_note))
        if status.probe is not None:
            rows.append(("", "", "", "", "probe:", status.probe))
        if status.cooldown_until is not None:
            rows.append(("", "", "", "", "cooldown:", _cooldown_note(status)))
    width = max(width, 20)
    widths = _column_widths(rows, width)
    if widths is None:
        return _render_blocks(rows[1:], width)
    return [line for row in rows for line in _render_row(row, widths)]


def _main_row(status: ModelStatus) -> _Row:
    return (
        status.model,
        "yes" if status.available else "no",
        status.version or _VERSION_WORDS.get(status.version_state, "-"),
        status.timeout_category,
        ", ".join(status.credentials_set) or "-",
        status.hint or status.executable_path or "",
    )


def _cooldown_note(status: ModelStatus) -> str:
    until = status.cooldown_until or 0.0
    when = iso_utc(until)
    reason = f": {status.cooldown_reason}" if status.cooldown_reason else ""
    return f"rate limited (account {status.account}) until {when}{reason}"


def _column_widths(rows: Sequence[_Row], width: int) -> list[int] | None:
    """Widths whose sum (with gaps) is at most `width`, or None if the table cannot fit.

    The first four columns keep their natural width. The credentials column gives way first,
    down to its longest name, so the last column can keep its longest word (a path) whole;
    then, for a hint of at least `_MIN_LAST_COLUMN`, down to `_MIN_CREDENTIALS`."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    room = width - sum(widths[:4]) - len(_GAP) * (len(_HEADER) - 1)
    longest_credential = _longest_word(row[4] for row in rows)
    last_wants = max(_MIN_LAST_COLUMN, _longest_word(row[5] for row in rows))
    widths[4] = max(longest_credential, min(widths[4], room - last_wants))
    if room - widths[4] < _MIN_LAST_COLUMN:
        widths[4] = max(_MIN_CREDENTIALS, room - _MIN_LAST_COLUMN)
    widths[5] = room - widths[4]
    return widths if widths[5] >= _MIN_LAST_COLUMN else None


def _longest_word(cells: Iterable[str]) -> int:
    return max((len(word) for cell in cells for word in cell.split()), default=0)


def _render_row(row: _Row, widths: Sequence[int]) -> list[str]:
    cells = [[cell] for cell in row[:4]] + [_wrap(row[4], widths[4]), _wrap(row[5], widths[5])]
    lines = []
    for n in range(max(len(cell) for cell in cells)):
        parts = [cell[n] if n < len(cell) else "" for cell in cells]
        padded = [part.ljust(w) for part, w in zip(parts[:-1], widths, strict=False)]
        lines.append(_GAP.join([*padded, parts[-1]]).rstrip())
    return lines


def _render_blocks(rows: Sequence[_Row], width: int) -> list[str]:
    """One block per model for a narrow terminal: its line, then labelled, indented lines."""
    lines: list[str] = []
    for model, ready, version, category, credentials, hint in rows:
        if model:
            lines += _wrap(f"{model}: ready {ready}, version {version}, {category}", width)
            lines += _wrap(f"credentials set: {credentials}", width, indent="  ")
            lines += _wrap(f"hint / path: {hint}", width, indent="  ")
        else:  # a "version:" or "probe:" line of the model above
            lines += _wrap(f"{credentials} {hint}", width, indent="  ")
    return lines


def _wrap(text: str, width: int, *, indent: str = "") -> list[str]:
    """`text` in lines of at most `width`; words longer than that (paths) are split, not cut."""
    wrapped = textwrap.wrap(
        text,
        width,
        initial_indent=indent,
        subsequent_indent=indent * 2,
        break_on_hyphens=False,
    )
    return wrapped or [""]
