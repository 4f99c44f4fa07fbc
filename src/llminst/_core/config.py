"""Model specs: what a model is, the built-in models, and validating user configuration.

A `ModelSpec` says everything llminst needs to run one CLI: its argv, how the prompt reaches it,
which flags turn on streaming or JSON output, how its output is decoded, which environment it
gets, and how it reports rate limits and missing credentials. Specs are frozen; a runtime change
makes a new spec.

User configuration is TOML text (the caller reads the file) validated with cattrs; every mistake
is reported as a `ConfigError` naming the source, the key and what was expected. Pure: this module
never opens a file or touches a process.
"""

from __future__ import annotations

import enum
import re
import sys
import tomllib
from collections.abc import Mapping
from typing import Any

import attrs
import cattrs
from attrs import field, frozen
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError

from ..errors import ConfigError
from .timeouts import TimeoutCategory

__all__ = [
    "BUILTIN_MODELS",
    "ModelSpec",
    "OutputFormat",
    "PromptMode",
    "Settings",
    "UserConfig",
    "merge_models",
    "parse_config",
    "spec_from_mapping",
]

PROMPT_PLACEHOLDER = "{prompt}"
SUBMODEL_PLACEHOLDER = "{submodel}"
# Linux refuses a single argv element over 128 KiB (MAX_ARG_STRLEN); stay clear of it.
DEFAULT_ARGV_PROMPT_LIMIT = 100_000


class PromptMode(enum.Enum):
    """How the prompt reaches the CLI."""

    ARGV = "argv"
    """As one argv element (at the `{prompt}` placeholder, else appended)."""
    STDIN = "stdin"
    """Written to the CLI's stdin, which is then closed."""


class OutputFormat(enum.Enum):
    """How the CLI's stdout is decoded."""

    TEXT = "text"
    CLAUDE_STREAM_JSON = "claude-stream-json"


def _non_empty_argv(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not value or not value[0].strip():
        raise ValueError(f"{attribute.name} must be a non-empty list of strings (argv)")


def _valid_patterns(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for pattern in value:
        try:
            re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(
                f"{attribute.name}: {pattern!r} is not a valid regular expression ({exc}); "
                "escape special characters such as ( [ { * + ? with a backslash"
            ) from None


def _positive(_inst: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value}")


def _to_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _to_env(value: Mapping[str, str]) -> Mapping[str, str]:
    return dict(value)


@frozen(kw_only=True)
class ModelSpec:
    """Everything needed to run one model's CLI.

    Attributes:
        name: the model name callers use (``claude``, ``echo``, ...).
        command: the argv; an element exactly ``{prompt}`` is replaced by the prompt.
        prompt_mode: argv (default) or stdin.
        stdin_fallback: the CLI also reads the prompt from stdin, so prompts too large for argv
            (or that start with ``-`` when there is no `prompt_separator`) go there.
        prompt_separator: inserted before an appended argv prompt (``--``) so a prompt that
            starts with ``-`` is never read as a flag.
        argv_prompt_limit: prompts larger than this (UTF-8 bytes) do not go through argv.
        stream_args: extra args when the caller streams.
        json_args: extra args in JSON mode.
        submodel_args: args that select a sub-model (``claude:sonnet``); ``{submodel}`` is replaced.
        output_format: how stdout is decoded.
        env: environment variables added for the CLI.
        env_remove: environment variable names removed for the CLI.
        credential_env: variable names that carry credentials (reported by name, never value).
        rate_limit_patterns: regexes (case-insensitive) that mean "rate or usage limited".
        auth_patterns: regexes (case-insensitive) that mean "not logged in / no API key".
        auth_hint: how to fix missing credentials (``run `claude login```).
        install_hint: how to install the CLI.
        timeout_category: the default category (the prompt may raise it).
        max_attempts: attempts including the first, for rate limits.
        max_concurrency: concurrent calls of this model (None: the supervisor's default).
        cwd: the working directory of the CLI (None: the server's).
        version_command: the argv that prints the version cheaply (default: the executable and
            ``--version``); empty to never probe.
    """

    name: str
    command: tuple[str, ...] = field(converter=_to_tuple, validator=_non_empty_argv)
    prompt_mode: PromptMode = PromptMode.ARGV
    stdin_fallback: bool = False
    prompt_separator: str | None = None
    argv_prompt_limit: int = field(default=DEFAULT_ARGV_PROMPT_LIMIT, validator=_positive)
    stream_args: tuple[str, ...] = field(default=(), converter=_to_tuple)
    json_args: tuple[str, ...] = field(default=(), converter=_to_tuple)
    submodel_args: tuple[str, ...] = field(default=(), converter=_to_tuple)
    output_format: OutputFormat = OutputFormat.TEXT
    env: Mapping[str, str] = field(factory=dict, converter=_to_env)
    env_remove: tuple[str, ...] = field(default=(), converter=_to_tuple)
    credential_env: tuple[str, ...] = field(default=(), converter=_to_tuple)
    rate_limit_patterns: tuple[str, ...] = field(
        default=(), converter=_to_tuple, validator=_valid_patterns
    )
    auth_patterns: tuple[str, ...] = field(
        default=(), converter=_to_tuple, validator=_valid_patterns
    )
    auth_hint: str | None = None
    install_hint: str | None = None
    timeout_category: TimeoutCategory = TimeoutCategory.NORMAL
    max_attempts: int = field(default=3, validator=_positive)
    max_concurrency: int | None = field(default=None, validator=_positive)
    cwd: str | None = None
    version_command: tuple[str, ...] | None = field(
        default=None, converter=attrs.converters.optional(_to_tuple)
    )

    @property
    def executable(self) -> str:
        return self.command[0]

    @property
    def version_argv(self) -> tuple[str, ...]:
        if self.version_command is None:
            return (self.executable, "--version")
        return self.version_command


# Common wording CLIs and APIs use for rate and usage limits.
GENERIC_RATE_LIMIT_PATTERNS = (
    r"rate[ _-]?limit",
    r"too many requests",
    r"\b429\b",
    r"quota exceeded",
    r"resource[ _]exhausted",
    r"usage limit",
    r"overloaded",
)


def _python_module(module: str) -> tuple[str, ...]:
    return (sys.executable, "-m", module)


BUILTIN_MODELS: Mapping[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="echo",
            command=(*_python_module("llminst.echo"),),
            prompt_separator="--",
            stdin_fallback=True,
            stream_args=("--stream",),
            timeout_category=TimeoutCategory.QUICK,
            rate_limit_patterns=GENERIC_RATE_LIMIT_PATTERNS,
            auth_patterns=(r"echo: not logged in",),
            auth_hint="unset LLMINST_ECHO_LOGGED_OUT",
            version_command=(*_python_module("llminst.echo"), "--version"),
            max_concurrency=64,
        ),
        ModelSpec(
            name="claude",
            command=(
                "claude",
                "-p",
                "--dangerously-skip-permissions",
                "--output-format",
                "stream-json",
                "--verbose",
            ),
            prompt_separator="--",
            stdin_fallback=True,
            stream_args=("--include-partial-messages",),
            submodel_args=("--model", SUBMODEL_PLACEHOLDER),
            output_format=OutputFormat.CLAUDE_STREAM_JSON,
            credential_env=("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"),
            rate_limit_patterns=(
                *GENERIC_RATE_LIMIT_PATTERNS,
                r"claude ai usage limit reached",
                r"you've hit your limit",
            ),
            auth_patterns=(r"not logged in", r"invalid api key", r"please run /login"),
            auth_hint="run `claude login` or set ANTHROPIC_API_KEY",
            install_hint="npm install -g @anthropic-ai/claude-code",
            max_concurrency=4,
        ),
        ModelSpec(
            name="gemini",
            command=("gemini", "-y", "-p", PROMPT_PLACEHOLDER),
            submodel_args=("-m", SUBMODEL_PLACEHOLDER),
            credential_env=("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_APPLICATION_CREDENTIALS"),
            rate_limit_patterns=GENERIC_RATE_LIMIT_PATTERNS,
            auth_patterns=(r"GEMINI_API_KEY", r"invalid auth method", r"please set an auth method"),
            auth_hint="set GEMINI_API_KEY or run `gemini` once to log in",
            install_hint="npm install -g @google/gemini-cli",
            max_concurrency=4,
        ),
        ModelSpec(
            name="gpt-4",
            command=(
                "openai",
                "api",
                "chat.completions.create",
                "-m",
                "gpt-4",
                "-g",
                "user",
                PROMPT_PLACEHOLDER,
            ),
            stream_args=("--stream",),
            credential_env=("OPENAI_API_KEY",),
            rate_limit_patterns=GENERIC_RATE_LIMIT_PATTERNS,
            auth_patterns=(
                r"OPENAI_API_KEY",
                r"api_key client option must be set",
                r"incorrect api key",
            ),
            auth_hint="set OPENAI_API_KEY",
            install_hint="pip install 'openai==1.109.1' (the last release with the `openai` CLI)",
            max_concurrency=8,
        ),
        ModelSpec(
            name="llama",
            command=("ollama", "run", "llama2"),
            stdin_fallback=True,
            submodel_args=(),
            rate_limit_patterns=GENERIC_RATE_LIMIT_PATTERNS,
            auth_patterns=(),
            install_hint="install ollama from https://ollama.com and run `ollama serve`",
            timeout_category=TimeoutCategory.NORMAL,
            max_concurrency=2,
        ),
    )
}


@frozen(kw_only=True)
class Settings:
    """Supervisor-wide settings a config file may set.

    Attributes:
        default_max_concurrency: concurrent calls per model when a spec sets none.
        grace_period_s: seconds between SIGTERM and SIGKILL of a process group.
        max_output_bytes: answer text kept per call; more is dropped and flagged.
        stderr_tail_bytes: how much of the end of stderr is kept.
    """

    default_max_concurrency: int = field(default=8, validator=_positive)
    grace_period_s: float = 3.0
    max_output_bytes: int = field(default=32 * 1024 * 1024, validator=_positive)
    stderr_tail_bytes: int = field(default=8192, validator=_positive)


@frozen(kw_only=True)
class UserConfig:
    """A parsed configuration file: settings plus models (complete specs, builtins merged)."""

    settings: Settings = Settings()
    models: Mapping[str, ModelSpec] = field(factory=dict)


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(
        TimeoutCategory, lambda value, _type: TimeoutCategory.parse(value)
    )
    return converter


_converter = _make_converter()

_SPEC_FIELDS = {a.name for a in attrs.fields(ModelSpec)}


def _describe(exc: BaseException, prefix: str) -> list[tuple[str, str]]:
    """Flatten a cattrs error tree into (key path, message) pairs."""
    out: list[tuple[str, str]] = []
    if isinstance(exc, ForbiddenExtraKeysError):
        for key in sorted(exc.extra_fields):
            out.append((f"{prefix}.{key}" if prefix else key, "unknown key"))
        return out
    if isinstance(exc, ClassValidationError):
        for sub in exc.exceptions:
            note = next(
                (n for n in getattr(sub, "__notes__", []) if hasattr(n, "name")),
                None,
            )
            name = getattr(note, "name", None)
            path = f"{prefix}.{name}" if name and prefix else (name or prefix)
            out.extend(_describe(sub, path))
        return out
    return [(prefix, _message_of(exc))]


def _message_of(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"required key {exc.args[0]!r} is missing"
    if isinstance(exc, TypeError | ValueError):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def spec_from_mapping(
    name: str,
    data: Mapping[str, Any],
    *,
    base: ModelSpec | None = None,
    source: str = "<runtime>",
    key_prefix: str = "",
) -> ModelSpec:
    """Build a spec from plain data, field by field on top of `base` (or from scratch).

    Raises:
        ConfigError: naming the source, the key and what was expected.
    """
    prefix = key_prefix or name
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"expected a table of model settings, got {type(data).__name__}",
            source=source,
            key=prefix,
        )
    unknown = sorted(set(data) - _SPEC_FIELDS)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(map(repr, unknown))}; valid keys: "
            f"{', '.join(sorted(_SPEC_FIELDS - {'name'}))}",
            source=source,
            key=prefix,
        )
    merged: dict[str, Any] = _converter.unstructure(base) if base is not None else {}
    merged.update(data)
    merged["name"] = name
    if "command" not in merged:
        raise ConfigError(
            'required key \'command\' is missing (the CLI\'s argv, e.g. ["mycli", "--flag"])',
            source=source,
            key=prefix,
        )
    try:
        return _converter.structure(merged, ModelSpec)
    except ClassValidationError as exc:
        problems = _describe(exc, prefix)
        key, message = problems[0]
        extra = "" if len(problems) == 1 else f" (and {len(problems) - 1} more problem(s))"
        raise ConfigError(message + extra, source=source, key=key) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc), source=source, key=prefix) from None


def parse_config(
    text: str,
    *,
    source: str,
    builtins: Mapping[str, ModelSpec] = BUILTIN_MODELS,
) -> UserConfig:
    """Parse a TOML config file's text.

    The file may contain a ``[settings]`` table and ``[models.NAME]`` tables. A model that shares a
    name with a built-in overrides only the keys it gives; a new model needs at least ``command``.

    Raises:
        ConfigError: naming `source`, the key and what was expected.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=source) from None
    unknown = sorted(set(data) - {"settings", "models"})
    if unknown:
        raise ConfigError(
            f"unknown top-level key(s) {', '.join(map(repr, unknown))}; "
            "use [settings] and [models.NAME]",
            source=source,
            key=unknown[0],
        )
    settings = _parse_settings(data.get("settings", {}), source)
    models_data = data.get("models", {})
    if not isinstance(models_data, dict):
        raise ConfigError("expected a table of models", source=source, key="models")
    models = {
        name: spec_from_mapping(
            name, table, base=builtins.get(name), source=source, key_prefix=f"models.{name}"
        )
        for name, table in models_data.items()
    }
    return UserConfig(settings=settings, models=models)


def _parse_settings(data: Any, source: str) -> Settings:
    if not isinstance(data, dict):
        raise ConfigError("expected a table", source=source, key="settings")
    try:
        return _converter.structure(data, Settings)
    except ForbiddenExtraKeysError as exc:
        valid = ", ".join(a.name for a in attrs.fields(Settings))
        raise ConfigError(
            f"unknown key(s) {', '.join(map(repr, sorted(exc.extra_fields)))}; valid keys: {valid}",
            source=source,
            key="settings",
        ) from None
    except ClassValidationError as exc:
        key, message = _describe(exc, "settings")[0]
        raise ConfigError(message, source=source, key=key) from None


def merge_models(*layers: Mapping[str, ModelSpec]) -> dict[str, ModelSpec]:
    """Later layers override earlier ones by model name."""
    merged: dict[str, ModelSpec] = {}
    for layer in layers:
        merged.update(layer)
    return merged


def split_model_name(model: str) -> tuple[str, str | None]:
    """``claude:sonnet`` -> (``claude``, ``sonnet``); ``echo`` -> (``echo``, None)."""
    base, sep, sub = model.partition(":")
    return base, (sub or None) if sep else None
