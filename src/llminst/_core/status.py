"""What `get_llm_status` reports about a model, and the hint for fixing what is missing.

Pure: the supervisor finds the executable, probes its version and passes the environment in;
this module only assembles the report. Credential values are never read into it, only names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from attrs import asdict, frozen

from .config import ModelSpec

__all__ = ["ModelStatus", "describe_model", "parse_version"]

_VERSION = re.compile(r"\d+(?:\.\d+)+(?:[-+.][0-9A-Za-z.]+)?")


@frozen(kw_only=True)
class ModelStatus:
    """One model's readiness.

    Attributes:
        model: the model name.
        command: the argv the model runs (without the prompt).
        available: the executable was found.
        executable_path: where it was found.
        version: what its version flag printed (first version-looking token), when probed.
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


def describe_model(
    spec: ModelSpec,
    *,
    executable_path: str | None,
    version: str | None,
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
        version=version,
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
