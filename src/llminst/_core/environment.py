"""The environment a CLI starts with: the base environment, the spec's changes, a call's own.

Pure: the caller passes the base environment in (a call's, or a version or help command's).
"""

from __future__ import annotations

from collections.abc import Mapping

from .spec import ModelSpec

__all__ = ["environment", "environment_view"]


def environment(
    spec: ModelSpec, base_env: Mapping[str, str], extra_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The complete environment `spec`'s CLI starts with, as a new dict.

    `base_env` without the spec's ``env_remove`` names, then the spec's ``env``, then
    `extra_env` (variables for one call only).
    """
    removed = spec.env_remove
    env = {k: v for k, v in base_env.items() if k not in removed}
    env.update(spec.env)
    if extra_env:
        env.update(extra_env)
    return env


def environment_view(
    spec: ModelSpec, base_env: Mapping[str, str], extra_env: Mapping[str, str] | None
) -> Mapping[str, str]:
    """`environment`, but `base_env` itself when nothing changes it: a process started with
    this process's environment as is need not have it copied and converted."""
    if spec.env or extra_env or any(name in base_env for name in spec.env_remove):
        return environment(spec, base_env, extra_env)
    return base_env
