"""configure_llm: add or update a model at runtime, within the server's allowlist.

Omitted keys keep their value; a new model needs a command. The spec is built by the same strict
code that reads config files (`spec_from_mapping`), so a value the config file would refuse is
refused here with the same message. This module never starts a process: it only looks
executables up on PATH.
"""

from __future__ import annotations

import enum
import inspect
import os
import shlex
import types
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import attrs
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from .._core.allowlist import Locate, Located, check_allowed
from .._core.errors import ConfigError, InvalidInputError
from .._core.spec import ModelSpec
from .._core.userconfig import spec_from_mapping
from ..logs import get_logger
from ..supervisor import Supervisor
from .registry import register
from .results import ConfigureResult, ok_result
from .state import state_of

__all__ = ["configure_llm", "configure_tool"]

_log = get_logger()


# What each key does, as clients read it in the input schema: one entry per ModelSpec field
# except `name` (that is the `model` argument), in the order clients list them. The argument's
# type comes from the field's type (`_argument_type`), so a new spec field only needs its line
# here, and a test fails until it has one.
KEY_DESCRIPTIONS: dict[str, str] = {
    "command": (
        'The CLI argv: a list (["mycli", "--flag"]) or one string split like a shell '
        "would (no shell runs). An element exactly {prompt} is where the prompt goes; "
        "otherwise it is appended. An element exactly {system_prompt_args} is where "
        "system_prompt_args go. Required for a new model."
    ),
    "timeout_category": (
        "quick (60 s), normal (300 s, the default), long (600 s) or extended (1800 s)."
    ),
    "rate_limit_patterns": (
        "Regexes (case-insensitive) meaning the CLI is rate limited; retried with backoff."
    ),
    "prompt_mode": "argv (default), stdin, or stream-json (claude's --input-format stream-json).",
    "stdin_fallback": "The CLI also reads the prompt from stdin (used for huge prompts).",
    "prompt_separator": 'Inserted before an appended prompt, e.g. "--".',
    "argv_prompt_limit": (
        "Prompts over this many UTF-8 bytes go to stdin when stdin_fallback is set "
        "(default 100000)."
    ),
    "stream_args": "Extra args when streaming.",
    "json_args": "Extra args in JSON mode.",
    "json_schema_args": (
        'Args passing the schema to the CLI natively, e.g. ["--json-schema", "{schema}"]; '
        "used when its --help lists the first one."
    ),
    "submodel_args": 'Args selecting a sub-model, e.g. ["--model", "{submodel}"].',
    "default_submodel": "The sub-model used when the call names none (needs submodel_args).",
    "output_format": (
        "How stdout is decoded: text, claude-stream-json, gemini-stream-json or codex-jsonl."
    ),
    "env": "Environment variables to add.",
    "env_remove": "Environment variable names to remove.",
    "credential_env": "Variables holding credentials (reported by name only).",
    "auth_patterns": "Regexes meaning the CLI lacks credentials.",
    "auth_hint": "How to fix missing credentials.",
    "unreachable_patterns": (
        "Regexes meaning the CLI cannot reach its API (default: common wordings such as "
        "connection refused); a call repeating one before answering is ended early."
    ),
    "unreachable_hint": "How to fix an unreachable API (e.g. which variable sets its base URL).",
    "error_hints": "Regex -> fix, for fatal errors the CLI reports that need a specific fix.",
    "install_hint": "How to install the CLI.",
    "max_attempts": "Attempts for rate limits (default 3).",
    "max_concurrency": "Concurrent calls of this model.",
    "concurrency_scope": (
        "Where max_concurrency holds: local (per server, default) or global (per account "
        "across every replica sharing a Redis store)."
    ),
    "cwd": (
        "Working directory of the CLI (a call's own cwd replaces it); over HTTP it must lie "
        "under the server's allowed_roots."
    ),
    "version_command": (
        "The argv printing the version cheaply ({executable} is the executable); "
        "without it status runs nothing to read a version."
    ),
    "system_prompt_args": (
        "The CLI's own flag for a call's system prompt, e.g. "
        '["--system", "{system_prompt}"]; without it the system prompt is prepended to the '
        "prompt."
    ),
    "account": (
        "The account its calls count against; models naming one account cool down together "
        "after a rate limit (default: the program the command runs)."
    ),
    "fallbacks": 'Models to try in order when a call fails as fallback_on says, e.g. ["gemini"].',
    "fallback_on": (
        "Error kinds that move a call to the next fallback (default rate_limited, "
        "credentials_missing, cli_not_found, api_unreachable; also timeout, json_not_found, "
        "json_schema_mismatch, process_failed, budget_exceeded)."
    ),
    "resume_args": (
        'Args continuing the CLI\'s own session in a later call, e.g. ["--resume", '
        '"{session_id}"]; placed at a {resume} element of command, else after it. Empty: '
        "a session's later calls get the transcript instead."
    ),
    "sessionless_args": 'Args only for calls outside a session, e.g. ["--ephemeral"].',
    "history_args": (
        'Args passing one earlier message of a replayed session, e.g. ["-g", "{role}", '
        '"{text}"]; repeated per message at a {history} element of command, else before the '
        "prompt. Empty: the transcript goes into the prompt."
    ),
    "expected_memory_mb": (
        "Peak memory (process-tree RSS, MB) a call is expected to need until calls of this "
        "model have been measured (then the p95 of recent peaks); a call starts only when "
        "that much is available above [settings] memory_reserve_mb. Default 100."
    ),
    "max_memory_mb": (
        "A call whose process tree grows past this (RSS, MB) is killed and fails with "
        "memory_exceeded, its peak reported. Default: no cap."
    ),
    "cache_ttl_s": (
        "Keep each successful answer this many seconds and answer the same call from it "
        "without running the CLI (default: only calls with cache=true are cached)."
    ),
    "price_in_per_mtok": (
        "USD per million input tokens, for the cost of calls whose CLI reports tokens but no "
        "cost (with price_out_per_mtok)."
    ),
    "price_out_per_mtok": "USD per million output tokens (with price_in_per_mtok).",
    "budget_daily_usd": (
        "What this model's calls may cost per UTC day; later calls fail with budget_exceeded "
        "before any process starts."
    ),
    "budget_monthly_usd": "What this model's calls may cost per UTC month (as budget_daily_usd).",
    "warm": (
        'Processes kept started ahead, waiting for their prompt (prompt_mode "stream-json" '
        "only); 0: none."
    ),
    "warm_idle_s": "Seconds a warm process may wait unused before it is stopped.",
}

# Arguments a client may send in a form the spec field does not have.
_WIDER_TYPES: dict[str, Any] = {"command": list[str] | str}  # a string is split like a shell


async def configure_llm(
    ctx: Context, model: str, command: list[str] | str | None = None, **keys: Any
) -> CallToolResult:
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
    given = {key: value for key, value in keys.items() if value is not None}
    spec, created = _apply_configuration(
        state.supervisor, model, command, given, allowed=state.options.allowed_commands
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
        {
            "model": spec.name,
            "created": created,
            "command": list(spec.command),
            "timeout_category": spec.timeout_category.value,
            "rate_limit_patterns": list(spec.rate_limit_patterns),
            "available": path is not None,
            "executable_path": path,
            "warnings": warnings,
        }
    )


def _argument_type(field_type: Any) -> Any:
    """The JSON-shaped type a client sends for a spec field: lists for tuples, objects for
    mappings, the value's string for an enum."""
    members = typing.get_args(field_type) if isinstance(field_type, types.UnionType) else ()
    if members:
        (member,) = [m for m in members if m is not type(None)]
        return _argument_type(member)
    if field_type == tuple[str, ...]:
        return list[str]
    if field_type == Mapping[str, str]:
        return dict[str, str]
    if isinstance(field_type, type) and issubclass(field_type, enum.Enum):
        return str
    if field_type in (str, int, float, bool):
        return field_type
    raise TypeError(f"configure_llm has no argument type for a spec field of type {field_type}")


def _signature() -> inspect.Signature:
    """configure_llm's signature as the SDK reads it: `model`, then one optional argument per
    spec field, typed from the field and described by `KEY_DESCRIPTIONS`."""
    field_types = {a.name: a.type for a in attrs.fields(attrs.resolve_types(ModelSpec))}
    model = Annotated[str, Field(description="The model name to add or update.")]
    parameters = [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Context),
        inspect.Parameter("model", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=model),
    ]
    for key, description in KEY_DESCRIPTIONS.items():
        argument = _WIDER_TYPES.get(key) or _argument_type(field_types[key])
        field = Field(default=None, description=description)
        # A type built at run time, which a static checker cannot follow.
        annotation = Annotated[argument | None, field]  # type: ignore[valid-type]
        parameters.append(
            inspect.Parameter(
                key, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=annotation
            )
        )
    result = Annotated[CallToolResult, ConfigureResult]
    return inspect.Signature(parameters, return_annotation=result)


def _publish_signature(fn: Callable[..., Any]) -> None:
    """Give `fn` the generated signature: the SDK builds the input schema from it, and finds
    the context argument in the annotations."""
    signature = _signature()
    fn.__signature__ = signature  # type: ignore[attr-defined]
    fn.__annotations__ = {
        **{p.name: p.annotation for p in signature.parameters.values()},
        "return": signature.return_annotation,
    }


_publish_signature(configure_llm)


def configure_tool() -> Tool:
    """configure_llm, registered."""
    return register(configure_llm, ToolAnnotations(destructive_hint=True, open_world_hint=False))


def _apply_configuration(
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
        InvalidInputError: an executable or variable the allowlist does not permit, or a
            ``cwd`` outside the server's allowed roots.
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
    if "cwd" in fields and supervisor.allowed_roots is not None:
        # A model's directory is a call's directory for every call: the same roots apply.
        fields = {**fields, "cwd": supervisor.resolve_directory(fields["cwd"])}
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
