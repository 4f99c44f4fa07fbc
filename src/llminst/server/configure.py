"""configure_llm: add or update a model at runtime, within the server's allowlist.

Omitted keys keep their value; a new model needs a command. The spec is built by the same strict
code that reads config files (`spec_from_mapping`), so a value the config file would refuse is
refused here with the same message. This module never starts a process: it only looks
executables up on PATH.
"""

from __future__ import annotations

import os
import shlex
from typing import Annotated, Any

import attrs
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from .._core.allowlist import Locate, Located, check_allowed
from .._core.config import ModelSpec, spec_from_mapping
from ..errors import ConfigError, InvalidInputError
from ..logs import get_logger
from ..supervisor import Supervisor
from .registry import register
from .results import ConfigureResult, ok_result
from .state import state_of

__all__ = ["configure_llm", "configure_tool"]

_log = get_logger()


def _opt(description: str) -> Any:
    return Field(default=None, description=description)


async def configure_llm(
    ctx: Context,
    model: Annotated[str, Field(description="The model name to add or update.")],
    command: Annotated[
        list[str] | str | None,
        _opt(
            'The CLI argv: a list (["mycli", "--flag"]) or one string split like a shell '
            "would (no shell runs). An element exactly {prompt} is where the prompt goes; "
            "otherwise it is appended. Required for a new model."
        ),
    ] = None,
    timeout_category: Annotated[
        str | None,
        _opt("quick (60 s), normal (300 s, the default), long (600 s) or extended (1800 s)."),
    ] = None,
    rate_limit_patterns: Annotated[
        list[str] | None,
        _opt("Regexes (case-insensitive) meaning the CLI is rate limited; retried with backoff."),
    ] = None,
    prompt_mode: Annotated[str | None, _opt("argv (default) or stdin.")] = None,
    stdin_fallback: Annotated[
        bool | None, _opt("The CLI also reads the prompt from stdin (used for huge prompts).")
    ] = None,
    prompt_separator: Annotated[
        str | None, _opt('Inserted before an appended prompt, e.g. "--".')
    ] = None,
    stream_args: Annotated[list[str] | None, _opt("Extra args when streaming.")] = None,
    json_args: Annotated[list[str] | None, _opt("Extra args in JSON mode.")] = None,
    json_schema_args: Annotated[
        list[str] | None,
        _opt(
            'Args passing the schema to the CLI natively, e.g. ["--json-schema", "{schema}"]; '
            "used when its --help lists the first one."
        ),
    ] = None,
    submodel_args: Annotated[
        list[str] | None, _opt('Args selecting a sub-model, e.g. ["--model", "{submodel}"].')
    ] = None,
    default_submodel: Annotated[
        str | None, _opt("The sub-model used when the call names none (needs submodel_args).")
    ] = None,
    output_format: Annotated[str | None, _opt("text or claude-stream-json.")] = None,
    env: Annotated[dict[str, str] | None, _opt("Environment variables to add.")] = None,
    env_remove: Annotated[list[str] | None, _opt("Environment variable names to remove.")] = None,
    credential_env: Annotated[
        list[str] | None, _opt("Variables holding credentials (reported by name only).")
    ] = None,
    auth_patterns: Annotated[
        list[str] | None, _opt("Regexes meaning the CLI lacks credentials.")
    ] = None,
    auth_hint: Annotated[str | None, _opt("How to fix missing credentials.")] = None,
    error_hints: Annotated[
        dict[str, str] | None,
        _opt("Regex -> fix, for fatal errors the CLI reports that need a specific fix."),
    ] = None,
    install_hint: Annotated[str | None, _opt("How to install the CLI.")] = None,
    max_attempts: Annotated[int | None, _opt("Attempts for rate limits (default 3).")] = None,
    max_concurrency: Annotated[int | None, _opt("Concurrent calls of this model.")] = None,
    cwd: Annotated[str | None, _opt("Working directory of the CLI.")] = None,
    version_command: Annotated[
        list[str] | None,
        _opt(
            "The argv printing the version cheaply ({executable} is the executable); "
            "without it status runs nothing to read a version."
        ),
    ] = None,
) -> Annotated[CallToolResult, ConfigureResult]:
    """Add or update a model at runtime.

    Omitted fields keep their current value (or the default, for a new model, which needs a
    command). An executable that is not installed yet is accepted with a warning;
    get_llm_status shows the model unavailable until it is."""
    state = state_of(ctx)
    if not state.options.allow_configure:
        raise InvalidInputError(
            "configure_llm is disabled on this server (it would let a client run any "
            "command); start it with --allow-configure to enable it, or add the model to the "
            "config file"
        )
    given = {
        "timeout_category": timeout_category,
        "rate_limit_patterns": rate_limit_patterns,
        "prompt_mode": prompt_mode,
        "stdin_fallback": stdin_fallback,
        "prompt_separator": prompt_separator,
        "stream_args": stream_args,
        "json_args": json_args,
        "json_schema_args": json_schema_args,
        "submodel_args": submodel_args,
        "default_submodel": default_submodel,
        "output_format": output_format,
        "env": env,
        "env_remove": env_remove,
        "credential_env": credential_env,
        "auth_patterns": auth_patterns,
        "auth_hint": auth_hint,
        "error_hints": error_hints,
        "install_hint": install_hint,
        "max_attempts": max_attempts,
        "max_concurrency": max_concurrency,
        "cwd": cwd,
        "version_command": version_command,
    }
    fields = {key: value for key, value in given.items() if value is not None}
    spec, created = _configure(
        state.supervisor, model, command, fields, allowed=state.options.allowed_commands
    )
    path = state.supervisor.find_executable(spec)
    warnings = []
    if path is None:
        warnings.append(
            f"executable {spec.executable!r} is not on PATH yet; calls will fail with "
            "cli_not_found until it is installed"
        )
    _log.info("llminst.model.configured", model=spec.name, created=created)
    return ok_result(
        ConfigureResult(
            model=spec.name,
            created=created,
            command=list(spec.command),
            timeout_category=spec.timeout_category.value,
            rate_limit_patterns=list(spec.rate_limit_patterns),
            available=path is not None,
            executable_path=path,
            warnings=warnings,
        )
    )


def configure_tool() -> Tool:
    """configure_llm, registered."""
    return register(configure_llm, ToolAnnotations(destructive_hint=True, open_world_hint=False))


def _configure(
    supervisor: Supervisor,
    model: str,
    command: list[str] | str | None,
    fields: dict[str, Any],
    *,
    allowed: tuple[str, ...] | None,
) -> tuple[ModelSpec, bool]:
    """Add `model`, or update the keys given of the model that exists (the others keep theirs).

    Raises:
        ConfigError: a new model without a command, or a value the config file would refuse.
        InvalidInputError: an executable or variable the allowlist does not permit.
    """
    existing = supervisor.models.get(model)
    if command is None and existing is None:
        raise ConfigError(
            'a new model needs \'command\' (the CLI\'s argv, e.g. ["mycli", "--flag"]); without '
            f"it, name a model that exists to update it: {', '.join(sorted(supervisor.models))}",
            source="configure_llm",
            key=model,
        )
    if isinstance(command, str):
        try:
            command = shlex.split(command)
        except ValueError as exc:
            raise ConfigError(
                f"cannot split the command string ({exc}); pass a list instead",
                source="configure_llm",
                key=f"{model}.command",
            ) from None
    if command is not None:
        fields = {**fields, "command": command}
    spec = spec_from_mapping(model, fields, base=existing, source="configure_llm", key_prefix=model)
    if allowed is not None:
        locate = _locator(supervisor, spec)
        check_allowed(spec, env=fields.get("env", {}), allowed=allowed, locate=locate)
    supervisor.configure(spec)
    return spec, existing is None


def _locator(supervisor: Supervisor, spec: ModelSpec) -> Locate:
    """Looks executables up on the PATH `spec`'s CLI would get, and resolves their symlinks."""

    def locate(executable: str) -> Located | None:
        path = supervisor.find_executable(attrs.evolve(spec, command=(executable,)))
        return None if path is None else Located(path, os.path.realpath(path))

    return locate
