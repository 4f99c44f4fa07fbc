"""configure_llm's allowlist: which executables and variables a client may configure.

A server started with an allowlist (``--allow-command``, ``[server] allow_commands``) lets a
client point a model, and its version command, only at those executables, compared as real paths
(a symlink to an allowed program, or another spelling of its path, is that program); and it
refuses environment variables that would make an allowed program load or run other code
(``PATH``, ``LD_PRELOAD``, ``PYTHONPATH``, ``NODE_OPTIONS``, ...).

Pure: the caller looks executables up (on the PATH the CLI would get) and resolves their real
paths, and passes that lookup in as `locate`; this module only compares. It never touches the
file system or the environment itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from attrs import frozen

from .errors import InvalidInputError
from .spec import ModelSpec

__all__ = ["CODE_LOADING_ENV", "Locate", "Located", "check_allowed", "code_loading_names"]

CODE_LOADING_ENV = re.compile(
    r"PATH|LD_.*|DYLD_.*|PYTHON.*|NODE_OPTIONS|NODE_PATH|BASH_ENV|ENV|PERL5.*|RUBY.*|GCONV_PATH"
    r"|IFS|SHELLOPTS|GIT_.*|NPM_CONFIG_.*|npm_config_.*"
)
"""Variables with which an allowed executable would load or run code the client chose."""


@frozen
class Located:
    """Where an executable was found: the path the lookup gave, and the file it really is."""

    path: str
    real_path: str


Locate = Callable[[str], Located | None]
"""Looks an executable (a name or a path) up; None when it is not found."""


def code_loading_names(env: Iterable[str]) -> list[str]:
    """The variable names in `env` that make a program load other code, sorted."""
    return sorted(name for name in env if CODE_LOADING_ENV.fullmatch(name))


def check_allowed(
    spec: ModelSpec, *, env: Mapping[str, str], allowed: Sequence[str], locate: Locate
) -> None:
    """Refuse a configuration that leaves the allowlist.

    Args:
        spec: the model as configured (its command and version command are checked).
        env: the variables the client set in this configuration.
        allowed: the allowlisted executables (names or paths), as the operator gave them.
        locate: finds an executable on the PATH the model's CLI would get.

    Raises:
        InvalidInputError: `env` sets a code-loading variable, or the command or version
            command is not an allowed executable; the message says how the operator allows it.
    """
    risky = code_loading_names(env)
    if risky:
        raise InvalidInputError(
            f"configure_llm: this server only runs allowlisted executables, so env may not set "
            f"{', '.join(risky)} (they make a program load other code); set them in the "
            "server's own environment or config file instead"
        )
    permitted = {found.real_path for name in allowed if (found := locate(name))}
    argvs = [("command", spec.command)]
    if spec.version_argv:
        argvs.append(("version_command", spec.version_argv))
    for key, argv in argvs:
        found = locate(argv[0])
        if found is None or found.real_path not in permitted:
            where = "not found on PATH" if found is None else f"resolves to {found.path}"
            raise InvalidInputError(
                f"configure_llm: {key} {argv[0]!r} ({where}) is not on this server's allowlist "
                f"of executables ({', '.join(allowed) or 'empty'}); the server's operator can "
                "add it with --allow-command or [server] allow_commands in the config file"
            )
