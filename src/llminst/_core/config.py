"""Model specs: what a model is, the built-in models, and validating user configuration.

A `ModelSpec` says everything llminst needs to run one CLI: its argv, how the prompt reaches it,
which flags turn on streaming or JSON output, how its output is decoded, which environment it
gets, and how it reports rate limits and missing credentials. Specs are frozen; a runtime change
makes a new spec.

User configuration is TOML text (the caller reads the file) validated field by field with cattrs
hooks that never coerce (``"false"`` is not a bool, ``"foo"`` is not a list); every mistake is
reported as a `ConfigError` naming the source, the full key path and what was expected. Pure: this
module never opens a file or touches a process.
"""

from __future__ import annotations

import enum
import json
import math
import re
import sys
import tomllib
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from attrs import field, frozen

from .errors import ConfigError
from .timeouts import TimeoutCategory

__all__ = [
    "BUILTIN_MODELS",
    "ModelSpec",
    "OutputFormat",
    "PromptMode",
    "ServerSettings",
    "Settings",
    "UserConfig",
    "merge_models",
    "parse_config",
    "spec_from_mapping",
]

PROMPT_PLACEHOLDER = "{prompt}"
SUBMODEL_PLACEHOLDER = "{submodel}"
SCHEMA_PLACEHOLDER = "{schema}"
EXECUTABLE_PLACEHOLDER = "{executable}"
# Linux refuses a single argv element of 128 KiB or more (MAX_ARG_STRLEN counts the terminating
# NUL); stay clear of it. command.py enforces the hard limit whatever a spec sets.
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
    GEMINI_STREAM_JSON = "gemini-stream-json"
    CODEX_JSONL = "codex-jsonl"


class _FieldValueError(ValueError):
    """A validator refused a field's value; `field` names it so config errors can give its key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _valid_model_name(_inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
    problem = _model_name_problem(value)
    if problem is not None:
        raise _FieldValueError(attribute.name, f"model name {value!r}: {problem}")


def _model_name_problem(name: str) -> str | None:
    if not name:
        return "a model needs a non-empty name"
    if ":" in name:
        return '":" separates a sub-model (claude:sonnet); pick a name without it'
    if any(char.isspace() for char in name):
        return "whitespace is not allowed (names are typed in calls); use - or _ instead"
    if any(unicodedata.category(char) == "Cc" for char in name):
        return "control characters are not allowed; use letters, digits, - or _"
    return None


def _non_empty_argv(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not value or not value[0].strip():
        raise _FieldValueError(
            attribute.name, f"{attribute.name} must be a non-empty list of strings (argv)"
        )


def _valid_patterns(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for pattern in value:
        try:
            re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise _FieldValueError(
                attribute.name,
                f"{attribute.name}: {pattern!r} is not a valid regular expression ({exc}); "
                "escape special characters such as ( [ { * + ? with a backslash",
            ) from None


def _valid_hint_patterns(
    _inst: object, attribute: attrs.Attribute[Any], value: Mapping[str, str]
) -> None:
    _valid_patterns(_inst, attribute, tuple(value))


def _needs_submodel_args(inst: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not inst.submodel_args:
        raise _FieldValueError(
            attribute.name,
            f"{attribute.name} {value!r} needs submodel_args saying where it goes "
            '(e.g. ["--model", "{submodel}"])',
        )


def _each_non_empty(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if any(not item.strip() for item in value):
        raise _FieldValueError(
            attribute.name, f"{attribute.name} must list executables; an empty name was given"
        )


def _positive(_inst: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value < 1:
        raise _FieldValueError(attribute.name, f"{attribute.name} must be at least 1, got {value}")


def _non_negative(_inst: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if value < 0:
        raise _FieldValueError(attribute.name, f"{attribute.name} must be at least 0, got {value}")


def _finite_non_negative(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise _FieldValueError(
            attribute.name, f"{attribute.name} must be a finite number, at least 0, got {value}"
        )


def _to_tuple(value: Any) -> tuple[str, ...]:
    """Python callers may give one string for a one-element list (config files may not)."""
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _to_env(value: Mapping[str, str]) -> Mapping[str, str]:
    return dict(value)


def _empty_to_none(value: str | None) -> str | None:
    """``prompt_separator = ""`` means no separator, exactly like leaving it out."""
    return value or None


# Common wording CLIs, HTTP libraries and resolvers use when the API cannot be reached at all
# (node: ECONNREFUSED, "fetch failed", getaddrinfo ENOTFOUND; Rust/reqwest: "error sending
# request", "failed to lookup address"; Python: "Connection refused", openai's "Connection
# error."). Chosen so ordinary notices never match: no bare "network", "timeout" or
# "disconnected" (a stream dropped mid-answer is retried by the CLIs themselves).
GENERIC_UNREACHABLE_PATTERNS = (
    r"connection refused",
    r"\bECONNREFUSED\b",
    r"\bENOTFOUND\b",
    r"\bEAI_AGAIN\b",
    r"\bENETUNREACH\b",
    r"\bEHOSTUNREACH\b",
    r"connect ETIMEDOUT",
    r"getaddrinfo",
    r"fetch failed",
    r"failed to connect",
    r"could not connect",
    r"unable to connect",
    r"cannot connect to",
    r"failed to lookup address",
    r"name does not resolve",
    r"name or service not known",
    r"temporary failure in name resolution",
    r"could not resolve host",
    r"network is unreachable",
    r"no route to host",
    r"waiting for network",
    r"\bconnection error\b",
    r"\bconnection failed\b",
    r"error sending request",
)


@frozen(kw_only=True)
class ModelSpec:
    """Everything needed to run one model's CLI.

    Attributes:
        name: the model name callers use (``claude``, ``echo``, ...): non-empty, without ``:``
            (it separates the sub-model, ``claude:sonnet``), whitespace or control characters.
        command: the argv; an element that is exactly ``{prompt}`` is replaced by the prompt
            (``{prompt}`` inside a longer element is passed as is), else the prompt is appended.
        prompt_mode: argv (default) or stdin.
        stdin_fallback: the CLI also reads the prompt from stdin, so prompts too large for argv
            (or that start with ``-`` where the CLI would read them as a flag) go there.
        prompt_separator: inserted before an appended argv prompt (``--``) so a prompt that
            starts with ``-`` is never read as a flag; ``""`` is the same as None (no separator).
        argv_prompt_limit: prompts larger than this (UTF-8 bytes) do not go through argv.
        stream_args: extra args when the caller streams.
        json_args: extra args in JSON mode.
        json_schema_args: args that hand the JSON schema to the CLI itself (``--json-schema``,
            ``{schema}``: ``{schema}`` is replaced by the schema as compact JSON). Used instead
            of prompt instructions only when the CLI's help (`help_argv`) lists the first of
            them (checked once per executable); otherwise the prompt carries the schema.
        submodel_args: args that select a sub-model (``claude:sonnet``); ``{submodel}`` is
            replaced wherever it occurs in an element (``--model={submodel}`` works too).
        default_submodel: the sub-model used when the caller names none (``llama`` is
            ``llama:llama2``); None: without a sub-model, `submodel_args` are left out.
        output_format: how stdout is decoded.
        env: environment variables added for the CLI.
        env_remove: environment variable names removed for the CLI.
        credential_env: variable names that carry credentials (reported by name, never value).
        rate_limit_patterns: regexes (case-insensitive) that mean "rate or usage limited".
        auth_patterns: regexes (case-insensitive) that mean "not logged in / no API key".
        auth_hint: how to fix missing credentials (``run `claude login```).
        unreachable_patterns: regexes (case-insensitive) that mean "cannot reach the API"
            (connection refused, DNS failure, ...); default: a shared list of common wordings.
            A failure whose errors match is ``api_unreachable``, and a call whose CLI repeats
            one matching line `Settings.stop_after_repeated_errors` times before answering is
            ended early.
        unreachable_hint: how to fix an unreachable API for this CLI (where its base URL is
            set); None: generic advice (network, base URL, proxy).
        error_hints: regex (case-insensitive) -> fix, for fatal errors a CLI reports that need a
            specific fix (claude refusing to run as root); a failed call whose output matches
            is reported with the matched line and the fix.
        install_hint: how to install the CLI.
        timeout_category: the default category (the prompt may raise it).
        max_attempts: attempts including the first, for rate limits.
        max_concurrency: concurrent calls of this model (None: the supervisor's default).
        cwd: the working directory of the CLI (None: the server's).
        version_command: the argv that prints the version cheaply; an element that is exactly
            ``{executable}`` is the model's executable (the built-in CLIs use ``{executable}
            --version``, so overriding their command keeps reading the right version). None or
            empty (the default for a model you add): status never runs anything to read a
            version, since a wrapper script may spend an API call on every run.
    """

    name: str = field(validator=_valid_model_name)
    command: tuple[str, ...] = field(converter=_to_tuple, validator=_non_empty_argv)
    prompt_mode: PromptMode = PromptMode.ARGV
    stdin_fallback: bool = False
    prompt_separator: str | None = field(default=None, converter=_empty_to_none)
    argv_prompt_limit: int = field(default=DEFAULT_ARGV_PROMPT_LIMIT, validator=_positive)
    stream_args: tuple[str, ...] = field(default=(), converter=_to_tuple)
    json_args: tuple[str, ...] = field(default=(), converter=_to_tuple)
    json_schema_args: tuple[str, ...] = field(default=(), converter=_to_tuple)
    submodel_args: tuple[str, ...] = field(default=(), converter=_to_tuple)
    default_submodel: str | None = field(
        default=None, converter=_empty_to_none, validator=_needs_submodel_args
    )
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
    unreachable_patterns: tuple[str, ...] = field(
        default=GENERIC_UNREACHABLE_PATTERNS, converter=_to_tuple, validator=_valid_patterns
    )
    unreachable_hint: str | None = None
    error_hints: Mapping[str, str] = field(
        factory=dict, converter=_to_env, validator=_valid_hint_patterns
    )
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
    def help_argv(self) -> tuple[str, ...]:
        """The argv printing the CLI's flags: the version command with ``--help`` for
        ``--version`` (so ``python -m tool`` forms work), else the executable and ``--help``."""
        argv = self.version_argv
        if argv and argv[-1] == "--version":
            return (*argv[:-1], "--help")
        return (self.executable, "--help")

    @property
    def version_argv(self) -> tuple[str, ...]:
        """The version command with ``{executable}`` filled in; empty when none is configured."""
        return tuple(
            self.executable if part == EXECUTABLE_PLACEHOLDER else part
            for part in self.version_command or ()
        )


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


# What the built-in CLIs answer cheaply and offline (a custom model gets no version command).
_VERSION_FLAG = (EXECUTABLE_PLACEHOLDER, "--version")


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
            json_schema_args=("--json-schema", SCHEMA_PLACEHOLDER),
            submodel_args=("--model", SUBMODEL_PLACEHOLDER),
            output_format=OutputFormat.CLAUDE_STREAM_JSON,
            # claude retries API errors itself (10 times, up to 40 s apart); llminst retries
            # rate limits, so claude keeps one quick retry for transient errors only.
            env={"CLAUDE_CODE_MAX_RETRIES": "1"},
            credential_env=("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"),
            rate_limit_patterns=(
                *GENERIC_RATE_LIMIT_PATTERNS,
                r"claude ai usage limit reached",
                r"you've hit your limit",
            ),
            auth_patterns=(r"not logged in", r"invalid api key", r"please run /login"),
            auth_hint=(
                "set ANTHROPIC_API_KEY for the server, or log in once by running `claude` and "
                "typing /login (`claude setup-token` makes a token for CLAUDE_CODE_OAUTH_TOKEN)"
            ),
            unreachable_hint=(
                "check the network, ANTHROPIC_BASE_URL (when set) and any proxy (HTTPS_PROXY)"
            ),
            error_hints={
                r"dangerously-skip-permissions cannot be used with root": (
                    "claude refuses --dangerously-skip-permissions as root unless IS_SANDBOX=1 "
                    "is set: run llminst as a non-root user, or, inside a container or VM, set "
                    'IS_SANDBOX=1 for the model (env = { IS_SANDBOX = "1" } in its config)'
                ),
            },
            install_hint="npm install -g @anthropic-ai/claude-code",
            version_command=_VERSION_FLAG,
            max_concurrency=4,
        ),
        ModelSpec(
            name="gemini",
            # gemini reads the prompt from stdin when stdin is not a terminal (no -p needed; it
            # must arrive within 500 ms, and more than 8 MiB is cut), so prompts of any size, and
            # prompts starting with "-" (which -p would take for a flag), reach it intact.
            command=("gemini", "--yolo", "--output-format", "stream-json"),
            prompt_mode=PromptMode.STDIN,
            submodel_args=("-m", SUBMODEL_PLACEHOLDER),
            output_format=OutputFormat.GEMINI_STREAM_JSON,
            # Without TRUST_WORKSPACE --yolo is ignored in a folder the user never trusted, and
            # headless runs stop with exit 55 ("not running in a trusted directory"). NO_RELAUNCH
            # skips gemini re-executing itself with a larger heap: 0.74 s instead of 1.25 s to
            # start (`--version` too), and one process instead of two.
            env={"GEMINI_CLI_TRUST_WORKSPACE": "true", "GEMINI_CLI_NO_RELAUNCH": "true"},
            credential_env=("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_APPLICATION_CREDENTIALS"),
            # A 429 ends as exit 173 (429 % 256) with "[API Error: You have exhausted your daily
            # quota on this model.]" (per-minute quotas the CLI retries itself, 10 attempts).
            rate_limit_patterns=(
                *GENERIC_RATE_LIMIT_PATTERNS,
                r"exhausted your (?:daily )?quota",
                r"exceeded your current quota",
            ),
            # Exit 41: "When using Gemini API, you must specify the GEMINI_API_KEY environment
            # variable." or, with no auth type chosen in settings.json, "Invalid auth method
            # selected." (A 429's message ends "...switch to another /auth method": no match.)
            auth_patterns=(
                r"must specify the GEMINI_API_KEY",
                r"invalid auth method selected",
                r"please set an auth method",
                r"API key not valid",
            ),
            auth_hint=(
                "set GEMINI_API_KEY and choose API-key auth in ~/.gemini/settings.json "
                '({"security": {"auth": {"selectedType": "gemini-api-key"}}}), '
                "or run `gemini` once to log in"
            ),
            unreachable_hint=(
                "check the network, GOOGLE_GEMINI_BASE_URL (when set) and any proxy (HTTPS_PROXY)"
            ),
            error_hints={
                r"not running in a trusted directory": (
                    "set GEMINI_CLI_TRUST_WORKSPACE=true for this model (the built-in spec "
                    "does) or trust the folder in an interactive gemini session"
                ),
            },
            install_hint="npm install -g @google/gemini-cli",
            version_command=_VERSION_FLAG,
            max_concurrency=4,
        ),
        ModelSpec(
            name="codex",
            # `-` reads the prompt from stdin (any size, may start with "-"). Read-only sandbox
            # and no approvals: codex exec's defaults.
            command=("codex", "exec", "--json", "--skip-git-repo-check", "--ephemeral", "-"),
            prompt_mode=PromptMode.STDIN,
            submodel_args=("-m", SUBMODEL_PLACEHOLDER),
            output_format=OutputFormat.CODEX_JSONL,
            credential_env=("OPENAI_API_KEY", "CODEX_API_KEY"),
            # A 429 ends as exit 1 with "exceeded retry limit, last status: 429 Too Many
            # Requests" once codex's own retries (stream_max_retries, default 5, honouring
            # Retry-After) are spent.
            rate_limit_patterns=GENERIC_RATE_LIMIT_PATTERNS,
            # A provider whose env_key is unset: "Missing environment variable: `OPENAI_API_KEY`."
            # A wrong key: "unexpected status 401 Unauthorized: Incorrect API key provided: ...".
            auth_patterns=(
                r"missing environment variable",
                r"401 unauthorized",
                r"incorrect api key",
                r"not logged in",
            ),
            auth_hint=(
                "run `codex login` (or `printenv OPENAI_API_KEY | codex login --with-api-key`), "
                "or set the variable your model provider's env_key names (OPENAI_API_KEY)"
            ),
            # Offline, codex repeats "Reconnecting... N/5 (... failed to lookup address ...)" and
            # then "Reconnecting... waiting for network (Connection failed: ...)" on stdout for
            # as long as it runs. Its stderr line "failed to connect to Responses WebSocket" is
            # left out: codex falls back to HTTPS by itself when only WebSockets are blocked.
            unreachable_patterns=tuple(
                p for p in GENERIC_UNREACHABLE_PATTERNS if p != r"failed to connect"
            ),
            unreachable_hint=(
                "check the network, the base_url of the model provider in ~/.codex/config.toml "
                "(when set) and any proxy (HTTPS_PROXY)"
            ),
            install_hint="npm install -g @openai/codex",
            version_command=_VERSION_FLAG,
            max_concurrency=4,
        ),
        ModelSpec(
            name="gpt-4",
            # The model is a sub-model defaulting to gpt-4, so gpt-4:gpt-4o runs `-m gpt-4o`.
            command=("openai", "api", "chat.completions.create", "-g", "user", PROMPT_PLACEHOLDER),
            submodel_args=("-m", SUBMODEL_PLACEHOLDER),
            default_submodel="gpt-4",
            stream_args=("--stream",),
            credential_env=("OPENAI_API_KEY",),
            rate_limit_patterns=GENERIC_RATE_LIMIT_PATTERNS,
            # Without a key the CLI dies in a traceback ending in "openai.OpenAIError: The
            # api_key client option must be set ... OPENAI_API_KEY environment variable"; a
            # wrong key is a 401 "Incorrect API key provided".
            auth_patterns=(r"api_key client option must be set", r"incorrect api key"),
            auth_hint="set OPENAI_API_KEY (and OPENAI_BASE_URL for an OpenAI-compatible server)",
            unreachable_hint=(
                "check the network, OPENAI_BASE_URL (when set) and any proxy (HTTPS_PROXY)"
            ),
            install_hint="pip install 'openai==1.109.1' (the last release with the `openai` CLI)",
            version_command=_VERSION_FLAG,
            max_concurrency=8,
        ),
        ModelSpec(
            name="llm",
            # simonw's llm: `llm:MODEL` runs `-m MODEL`; plain `llm` uses its default model
            # (`llm models default`). --no-log keeps prompts out of its SQLite log.
            command=("llm", "prompt", "--no-log"),
            prompt_separator="--",
            stdin_fallback=True,
            submodel_args=("-m", SUBMODEL_PLACEHOLDER),
            credential_env=("OPENAI_API_KEY",),
            rate_limit_patterns=GENERIC_RATE_LIMIT_PATTERNS,
            auth_patterns=(r"no key found",),
            auth_hint=(
                "set OPENAI_API_KEY (or run `llm keys set openai`); other providers' plugins "
                "take `llm keys set NAME` or their own variable"
            ),
            unreachable_hint=(
                "check the network, OPENAI_BASE_URL (when set) or the model plugin's API "
                "address, and any proxy (HTTPS_PROXY)"
            ),
            error_hints={
                r"unknown model": (
                    "`llm models` lists the models llm knows; install a plugin for others "
                    "(`llm install llm-ollama`, ...) and name the model as `llm:MODEL`"
                ),
            },
            install_hint="pip install llm (or `uv tool install llm`)",
            version_command=_VERSION_FLAG,
            max_concurrency=8,
        ),
        ModelSpec(
            name="llama",
            # `ollama run MODEL`: llama alone is llama2, llama:llama3 runs `ollama run llama3`.
            command=("ollama", "run"),
            submodel_args=(SUBMODEL_PLACEHOLDER,),
            default_submodel="llama2",
            stdin_fallback=True,
            rate_limit_patterns=GENERIC_RATE_LIMIT_PATTERNS,
            error_hints={
                r"could not connect to ollama app": (
                    "the ollama server is not running: start it with `ollama serve` (or the "
                    "ollama app), or set OLLAMA_HOST to where it runs"
                ),
                r"model '[^']*' not found": (
                    "pull the model first: `ollama pull llama2` for llama, `ollama pull NAME` "
                    "for llama:NAME"
                ),
            },
            unreachable_hint=(
                "start the ollama server (`ollama serve`) or set OLLAMA_HOST to where it runs"
            ),
            install_hint="install ollama from https://ollama.com and run `ollama serve`",
            version_command=_VERSION_FLAG,
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
        stop_after_repeated_errors: end a call once its CLI has printed the same connection or
            credentials error line (a model's ``unreachable_patterns`` / ``auth_patterns``)
            this many times without any answer text; 0 never ends a call early.
    """

    default_max_concurrency: int = field(default=8, validator=_positive)
    grace_period_s: float = field(default=3.0, validator=_finite_non_negative)
    max_output_bytes: int = field(default=32 * 1024 * 1024, validator=_positive)
    stderr_tail_bytes: int = field(default=8192, validator=_positive)
    stop_after_repeated_errors: int = field(default=3, validator=_non_negative)


@frozen(kw_only=True)
class ServerSettings:
    """What a config file's ``[server]`` table may set for ``llminst serve``.

    Attributes:
        allow_commands: executables (names looked up on PATH, or absolute paths) that
            ``configure_llm`` may point a model at; empty means any command on stdio, and no
            remote configuration at all over HTTP. Adds to ``--allow-command``.
    """

    allow_commands: tuple[str, ...] = field(
        default=(), converter=_to_tuple, validator=_each_non_empty
    )


@frozen(kw_only=True)
class UserConfig:
    """A parsed configuration file: settings plus models (complete specs, builtins merged)."""

    settings: Settings = Settings()
    server: ServerSettings = ServerSettings()
    models: Mapping[str, ModelSpec] = field(factory=dict)


# --- strict structuring: a value of the wrong type is refused, never converted ------------------

_LIST_EXAMPLE = '["mycli", "--flag"]'
_TABLE_EXAMPLE = '{ NAME = "value" }'


def _shown(value: Any) -> str:
    """A value as the user wrote it in TOML/JSON, or its kind when it is a container."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)


def _structure_bool(value: Any, _type: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {_shown(value)}")
    return value


def _structure_int(value: Any, _type: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {_shown(value)}")
    return value


def _structure_float(value: Any, _type: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {_shown(value)}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value}")
    return float(value)


def _structure_str(value: Any, _type: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {_shown(value)}")
    return value


def _structure_str_list(value: Any, _type: Any) -> tuple[str, ...]:
    expected = f"expected a list of strings, e.g. {_LIST_EXAMPLE}"
    if isinstance(value, str):
        one = json.dumps([value], ensure_ascii=False)
        raise TypeError(f"{expected}, got a string; write {one} for a single element")
    if not isinstance(value, list | tuple):
        raise TypeError(f"{expected}, got {_shown(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise TypeError(f"{expected}, but element {index} is {_shown(item)}")
    return tuple(value)


def _structure_str_table(value: Any, _type: Any) -> dict[str, str]:
    expected = f"expected a table of strings, e.g. {_TABLE_EXAMPLE}"
    if not isinstance(value, Mapping):
        raise TypeError(f"{expected}, got {_shown(value)}")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise TypeError(f"{expected}, but {key!r} is {_shown(item)}")
    return dict(value)


def _is_enum(type_: Any) -> bool:
    return isinstance(type_, type) and issubclass(type_, enum.Enum)


def _structure_enum(value: Any, type_: type[enum.Enum]) -> enum.Enum:
    if isinstance(value, type_):
        return value
    if isinstance(value, str):
        try:
            return type_(value)
        except ValueError:
            pass
    valid = ", ".join(str(member.value) for member in type_)
    raise ValueError(f"expected one of: {valid} (got {_shown(value)})")


def _structure_timeout_category(value: Any, _type: Any) -> TimeoutCategory:
    if isinstance(value, str):
        return TimeoutCategory.parse(value)  # case-insensitive, names the valid categories
    return TimeoutCategory(_structure_enum(value, TimeoutCategory))


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(TimeoutCategory, _structure_timeout_category)
    converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _structure_str_list)
    converter.register_structure_hook_func(lambda t: t == Mapping[str, str], _structure_str_table)
    converter.register_structure_hook_func(_is_enum, _structure_enum)
    return converter


_converter = _make_converter()


def _field_types(cls: type) -> dict[str, Any]:
    return {a.name: a.type for a in attrs.fields(attrs.resolve_types(cls))}


# What a model table may set (its name comes from the table's name) and what [settings] may set.
_SPEC_TYPES = {k: t for k, t in sorted(_field_types(ModelSpec).items()) if k != "name"}
_SETTINGS_TYPES = _field_types(Settings)
_SERVER_TYPES = _field_types(ServerSettings)

_T = TypeVar("_T")


def _structure_fields(
    data: Mapping[str, Any], types: Mapping[str, Any], *, prefix: str, source: str
) -> dict[str, Any]:
    """Structure each given key on its own, so every mistake is reported under its own key.

    Raises:
        ConfigError: keyed by the first wrong value, counting the others.
    """
    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for key, value in data.items():
        try:
            values[key] = _converter.structure(value, types[key])
        except (TypeError, ValueError) as exc:
            problems.append((f"{prefix}.{key}", str(exc)))
    if problems:
        key, message = problems[0]
        extra = "" if len(problems) == 1 else f" (and {len(problems) - 1} more problem(s))"
        raise ConfigError(message + extra, source=source, key=key)
    return values


def _build(make: Callable[[], _T], *, prefix: str, source: str) -> _T:
    """Run `make` (a class call), reporting a validator's refusal under the field's key path."""
    try:
        return make()
    except _FieldValueError as exc:
        key = prefix if exc.field == "name" else f"{prefix}.{exc.field}"
        raise ConfigError(str(exc), source=source, key=key) from None


def _refuse_unknown_keys(
    data: Mapping[str, Any], valid: Mapping[str, Any], *, key: str, source: str
) -> None:
    unknown = sorted(map(str, set(data) - set(valid)))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(map(repr, unknown))}; "
            f"valid keys: {', '.join(sorted(valid))}",
            source=source,
            key=key,
        )


def spec_from_mapping(
    name: str,
    data: Mapping[str, Any],
    *,
    base: ModelSpec | None = None,
    source: str = "<runtime>",
    key_prefix: str = "",
) -> ModelSpec:
    """Build a spec from plain data, field by field on top of `base` (or from scratch).

    Values must have their TOML/JSON type: a list of strings where the spec has a tuple (a lone
    string is refused, not split or wrapped), a table of strings for `env`, the string value of an
    enum. A ``name`` key in `data` is ignored: `name` is the model's name.

    Raises:
        ConfigError: naming the source, the full key path and what was expected.
    """
    prefix = key_prefix or name
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"expected a table of model settings, got {type(data).__name__}",
            source=source,
            key=prefix,
        )
    given = {key: value for key, value in data.items() if key != "name"}
    _refuse_unknown_keys(given, _SPEC_TYPES, key=prefix, source=source)
    if base is None and "command" not in given:
        raise ConfigError(
            f"required key 'command' is missing (the CLI's argv, e.g. {_LIST_EXAMPLE})",
            source=source,
            key=prefix,
        )
    values = _structure_fields(given, _SPEC_TYPES, prefix=prefix, source=source)
    if base is None:
        return _build(lambda: ModelSpec(name=name, **values), prefix=prefix, source=source)
    return _build(lambda: attrs.evolve(base, name=name, **values), prefix=prefix, source=source)


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
    unknown = sorted(set(data) - {"settings", "server", "models"})
    if unknown:
        raise ConfigError(
            f"unknown top-level key(s) {', '.join(map(repr, unknown))}; "
            "use [settings], [server] and [models.NAME]",
            source=source,
            key=unknown[0],
        )
    settings = _parse_table(data.get("settings", {}), Settings, _SETTINGS_TYPES, "settings", source)
    server = _parse_table(data.get("server", {}), ServerSettings, _SERVER_TYPES, "server", source)
    models_data = data.get("models", {})
    if not isinstance(models_data, dict):
        raise ConfigError("expected a table of models", source=source, key="models")
    models = {
        name: spec_from_mapping(
            name, table, base=builtins.get(name), source=source, key_prefix=f"models.{name}"
        )
        for name, table in models_data.items()
    }
    return UserConfig(settings=settings, server=server, models=models)


def _parse_table(
    data: Any, cls: Callable[..., _T], types: Mapping[str, Any], key: str, source: str
) -> _T:
    if not isinstance(data, dict):
        raise ConfigError("expected a table", source=source, key=key)
    _refuse_unknown_keys(data, types, key=key, source=source)
    values = _structure_fields(data, types, prefix=key, source=source)
    return _build(lambda: cls(**values), prefix=key, source=source)


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
