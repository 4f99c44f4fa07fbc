"""Model specs: what a model is (`ModelSpec`), its enums, validators, and the supervisor settings.

A `ModelSpec` says everything llminst needs to run one CLI: its argv, how the prompt reaches it,
which flags turn on streaming or JSON output, how its output is decoded, which environment it
gets, and how it reports rate limits and missing credentials. Specs are frozen; a runtime change
makes a new spec. `Settings` and `ServerSettings` are what a config file may set beside models.

Validators refuse a wrong value with a `FieldValueError` naming the field, so `userconfig` can
report it under its key path. Pure: this module never opens a file, reads the environment or
touches a process; the built-in models live in `builtins`, reading TOML in `userconfig`.
"""

from __future__ import annotations

import enum
import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import attrs
from attrs import field, frozen

from .paging import DEFAULT_MAX_RESULT_CHARS
from .timeouts import TimeoutCategory

__all__ = [
    "DEFAULT_ARGV_PROMPT_LIMIT",
    "DEFAULT_FALLBACK_ON",
    "EXECUTABLE_PLACEHOLDER",
    "FALLBACK_KINDS",
    "GENERIC_UNREACHABLE_PATTERNS",
    "HISTORY_PLACEHOLDER",
    "PROMPT_PLACEHOLDER",
    "RESUME_PLACEHOLDER",
    "SCHEMA_PLACEHOLDER",
    "SESSION_ID_PLACEHOLDER",
    "SUBMODEL_PLACEHOLDER",
    "SYSTEM_ARGS_PLACEHOLDER",
    "SYSTEM_PROMPT_PLACEHOLDER",
    "BudgetSettings",
    "FieldValueError",
    "ModelSpec",
    "OutputFormat",
    "PromptMode",
    "ServerSettings",
    "Settings",
    "StoreSettings",
    "split_model_name",
]

PROMPT_PLACEHOLDER = "{prompt}"
SUBMODEL_PLACEHOLDER = "{submodel}"
SCHEMA_PLACEHOLDER = "{schema}"
EXECUTABLE_PLACEHOLDER = "{executable}"
SYSTEM_PROMPT_PLACEHOLDER = "{system_prompt}"
SYSTEM_ARGS_PLACEHOLDER = "{system_prompt_args}"
RESUME_PLACEHOLDER = "{resume}"
HISTORY_PLACEHOLDER = "{history}"
SESSION_ID_PLACEHOLDER = "{session_id}"
# Linux refuses a single argv element of 128 KiB or more (MAX_ARG_STRLEN counts the terminating
# NUL); stay clear of it. command.py enforces the hard limit whatever a spec sets.
DEFAULT_ARGV_PROMPT_LIMIT = 100_000


class PromptMode(enum.Enum):
    """How the prompt reaches the CLI."""

    ARGV = "argv"
    """As one argv element (at the `{prompt}` placeholder, else appended)."""
    STDIN = "stdin"
    """Written to the CLI's stdin, which is then closed."""
    STREAM_JSON = "stream-json"
    """On stdin as claude's stream-json input (``--input-format stream-json``): an
    ``initialize`` control request, then the prompt as one ``user`` message (`streamjson`)."""


class OutputFormat(enum.Enum):
    """How the CLI's stdout is decoded."""

    TEXT = "text"
    CLAUDE_STREAM_JSON = "claude-stream-json"
    GEMINI_STREAM_JSON = "gemini-stream-json"
    CODEX_JSONL = "codex-jsonl"


class FieldValueError(ValueError):
    """A validator refused a field's value; `field` names it so config errors can give its key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _valid_model_name(_inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
    problem = _model_name_problem(value)
    if problem is not None:
        raise FieldValueError(attribute.name, f"model name {value!r}: {problem}")


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
        raise FieldValueError(
            attribute.name, f"{attribute.name} must be a non-empty list of strings (argv)"
        )


def _valid_patterns(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for pattern in value:
        try:
            re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise FieldValueError(
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
        raise FieldValueError(
            attribute.name,
            f"{attribute.name} {value!r} needs submodel_args saying where it goes "
            '(e.g. ["--model", "{submodel}"])',
        )


def _carries_system_prompt(
    _inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]
) -> None:
    if value and not any(SYSTEM_PROMPT_PLACEHOLDER in part for part in value):
        raise FieldValueError(
            attribute.name,
            f"{attribute.name} must say where the system prompt goes with "
            f'{SYSTEM_PROMPT_PLACEHOLDER} (e.g. ["--system", "{SYSTEM_PROMPT_PLACEHOLDER}"]), '
            f"got {list(value)}",
        )


def _valid_resume_args(inst: Any, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if value and not any(SESSION_ID_PLACEHOLDER in part for part in value):
        raise FieldValueError(
            attribute.name,
            f"{attribute.name} must say where the CLI's session id goes with "
            '{session_id} (e.g. ["--resume", "{session_id}"])',
        )
    if not value and RESUME_PLACEHOLDER in inst.command:
        raise FieldValueError(
            attribute.name,
            "command has a {resume} placeholder but resume_args is empty; set resume_args "
            '(e.g. ["resume", "{session_id}"]) or remove the placeholder',
        )


def _valid_history_args(inst: Any, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if value and "{text}" not in value:
        raise FieldValueError(
            attribute.name,
            f"{attribute.name} must have an element that is exactly {{text}}, where each earlier "
            'message goes (e.g. ["-g", "{role}", "{text}"])',
        )
    if not value and HISTORY_PLACEHOLDER in inst.command:
        raise FieldValueError(
            attribute.name,
            "command has a {history} placeholder but history_args is empty; set history_args "
            '(e.g. ["-g", "{role}", "{text}"]) or remove the placeholder',
        )


def _each_non_empty(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if any(not item.strip() for item in value):
        raise FieldValueError(
            attribute.name, f"{attribute.name} must list executables; an empty name was given"
        )


def _each_non_empty_path(
    _inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]
) -> None:
    if any(not item.strip() for item in value):
        raise FieldValueError(
            attribute.name, f"{attribute.name} must list directories; an empty path was given"
        )


def _positive(_inst: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value < 1:
        raise FieldValueError(attribute.name, f"{attribute.name} must be at least 1, got {value}")


CONCURRENCY_SCOPES = ("local", "global")


def _concurrency_scope(_inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in CONCURRENCY_SCOPES:
        raise FieldValueError(
            attribute.name,
            f"{attribute.name} must be 'local' (per llminst process) or 'global' (per account "
            f"across the replicas sharing a Redis store), got {value!r}",
        )


def _non_negative(_inst: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if value < 0:
        raise FieldValueError(attribute.name, f"{attribute.name} must be at least 0, got {value}")


def _finite_non_negative(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise FieldValueError(
            attribute.name, f"{attribute.name} must be a finite number, at least 0, got {value}"
        )


def _optional_finite_non_negative(
    _inst: object, attribute: attrs.Attribute[Any], value: float | None
) -> None:
    if value is not None:
        _finite_non_negative(_inst, attribute, value)


def _optional_positive_seconds(
    _inst: object, attribute: attrs.Attribute[Any], value: float | None
) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise FieldValueError(
            attribute.name,
            f"{attribute.name} must be a finite number of seconds above 0, got {value}",
        )


def _finite_positive(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise FieldValueError(
            attribute.name, f"{attribute.name} must be a finite number above 0, got {value}"
        )


def _warm_needs_stream_json(inst: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    _non_negative(inst, attribute, value)
    if value and inst.prompt_mode is not PromptMode.STREAM_JSON:
        raise FieldValueError(
            attribute.name,
            f'{attribute.name} = {value} needs prompt_mode = "stream-json": only a CLI that '
            "reads its prompt as a stream-json message can be started before the prompt is "
            f"known (this model's prompt_mode is {inst.prompt_mode.value!r}); set warm = 0",
        )


# The failures after which a call moves on to its next fallback model, by default: the model
# cannot answer now, but another may (a timeout or a JSON mismatch may be the prompt's fault).
DEFAULT_FALLBACK_ON = ("rate_limited", "credentials_missing", "cli_not_found", "api_unreachable")
FALLBACK_KINDS = (
    *DEFAULT_FALLBACK_ON,
    "timeout",
    "json_not_found",
    "json_schema_mismatch",
    "process_failed",
    "budget_exceeded",
)
"""The error kinds ``fallback_on`` may list."""


def _fallback_kinds(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    unknown = [kind for kind in value if kind not in FALLBACK_KINDS]
    if unknown:
        raise FieldValueError(
            attribute.name,
            f"{attribute.name}: unknown error kind(s) {', '.join(map(repr, unknown))}; "
            f"valid kinds: {', '.join(FALLBACK_KINDS)}",
        )


def _model_names(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for name in value:
        problem = _model_name_problem(split_model_name(name)[0])
        if problem is not None:
            raise FieldValueError(attribute.name, f"{attribute.name}: {name!r}: {problem}")


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
            An element that is exactly ``{system_prompt_args}`` is where `system_prompt_args`
            go (dropped when a call has no system prompt).
        prompt_mode: argv (default), stdin, or stream-json (claude's ``--input-format
            stream-json``: the prompt as a JSON ``user`` message on stdin).
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
        system_prompt_args: the CLI's own flag for a call's system prompt
            (``--append-system-prompt``, ``{system_prompt}``: ``{system_prompt}`` is replaced by
            the text wherever it occurs in an element). They go at the command's
            ``{system_prompt_args}`` element, else after the other args, before the prompt.
            Empty: the system prompt is prepended to the prompt (`request.with_system_prompt`).
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
        concurrency_scope: where `max_concurrency` holds: ``local`` (default: in each llminst
            process) or ``global`` (per account across every replica sharing a Redis store,
            with leases that a crashed replica's slots return from; the local limit holds
            too). Without replicas ``global`` is the same as ``local``.
        cwd: the working directory of the CLI (None: the server's); a call's own ``cwd``
            replaces it.
        resume_args: args that continue the CLI's own session in a later call of an llminst
            session (``["--resume", "{session_id}"]``; ``{session_id}`` is the id the CLI
            reported): they go where `command` has an element exactly ``{resume}`` (a
            subcommand such as codex's ``exec resume ID``), else after the command. Empty: the
            CLI cannot resume, so each later call gets the transcript instead.
        sessionless_args: args added only when the call belongs to no session (codex's
            ``--ephemeral``: nothing is saved that no call will resume).
        history_args: how the CLI takes one earlier message of a replayed conversation
            (``["-g", "{role}", "{text}"]``: ``{role}`` is user or assistant, an element
            exactly ``{text}`` the message), repeated per message where `command` has an
            element exactly ``{history}``, else before an appended prompt. Empty: a replayed
            conversation is written into the prompt, before the new message.
        version_command: the argv that prints the version cheaply; an element that is exactly
            ``{executable}`` is the model's executable (the built-in CLIs use ``{executable}
            --version``, so overriding their command keeps reading the right version). None or
            empty (the default for a model you add): status never runs anything to read a
            version, since a wrapper script may spend an API call on every run.
        account: the account its calls count against, shared by every model that names it
            (``anthropic-max``): a rate limit on one cools them all down. None: the program
            the command runs (`cooldowns.account_of`).
        fallbacks: models to try in order when a call cannot be answered by this one (see
            `fallback_on`), within the same deadline; a call's own ``fallbacks`` replace them.
        fallback_on: the error kinds that move a call on to the next fallback (default:
            rate_limited, credentials_missing, cli_not_found, api_unreachable; also allowed:
            timeout, json_not_found, json_schema_mismatch, process_failed, budget_exceeded).
        expected_memory_mb: the peak memory (process-tree RSS, MB) a call is expected to need
            until calls of this model have been measured (then the p95 of recent peaks is
            used); None: a default of 100 MB. A call starts only when the machine has that
            much available above `Settings.memory_reserve_mb`.
        max_memory_mb: a call whose process tree grows past this (RSS, MB) is killed and
            fails with ``memory_exceeded``; None: no cap.
        cache_ttl_s: keep each successful answer this many seconds and answer the same call
            (`_core.cache.cache_key`) from it without starting the CLI; None (default): only
            calls that ask (``cache=True``) are cached.
        price_in_per_mtok / price_out_per_mtok: USD per million input / output tokens, for
            the cost of calls whose CLI reports tokens but no cost (both needed).
        budget_daily_usd / budget_monthly_usd: what this model's calls may cost per UTC day /
            month; a call that would start after that is spent fails with
            ``budget_exceeded`` before any process starts.
        warm: processes of this model kept started ahead, initialized and waiting for their
            prompt (0, the default: none); only for ``prompt_mode = "stream-json"``. A call
            whose launch (command, sub-model, flags, environment, directory) matches the one
            kept warm skips the CLI's start-up; the others start cold.
        warm_idle_s: a warm process unused this long is stopped (and started again by the
            next call).
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
    system_prompt_args: tuple[str, ...] = field(
        default=(), converter=_to_tuple, validator=_carries_system_prompt
    )
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
    concurrency_scope: str = field(default="local", validator=_concurrency_scope)
    cwd: str | None = None
    version_command: tuple[str, ...] | None = field(
        default=None, converter=attrs.converters.optional(_to_tuple)
    )
    account: str | None = field(default=None, converter=_empty_to_none)
    fallbacks: tuple[str, ...] = field(default=(), converter=_to_tuple, validator=_model_names)
    fallback_on: tuple[str, ...] = field(
        default=DEFAULT_FALLBACK_ON, converter=_to_tuple, validator=_fallback_kinds
    )
    resume_args: tuple[str, ...] = field(
        default=(), converter=_to_tuple, validator=_valid_resume_args
    )
    sessionless_args: tuple[str, ...] = field(default=(), converter=_to_tuple)
    history_args: tuple[str, ...] = field(
        default=(), converter=_to_tuple, validator=_valid_history_args
    )
    expected_memory_mb: int | None = field(default=None, validator=_positive)
    max_memory_mb: int | None = field(default=None, validator=_positive)
    cache_ttl_s: float | None = field(default=None, validator=_optional_positive_seconds)
    price_in_per_mtok: float | None = field(default=None, validator=_optional_finite_non_negative)
    price_out_per_mtok: float | None = field(default=None, validator=_optional_finite_non_negative)
    budget_daily_usd: float | None = field(default=None, validator=_optional_finite_non_negative)
    budget_monthly_usd: float | None = field(default=None, validator=_optional_finite_non_negative)
    warm: int = field(default=0, validator=_warm_needs_stream_json)
    warm_idle_s: float = field(default=300.0, validator=_finite_positive)

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
        memory_admission: start a call only when the machine's available memory minus
            `memory_reserve_mb` covers its expected peak (see ``expected_memory_mb``); a call
            that does not fit waits (queued, in order) within its deadline. False: calls start
            at once and are measured only when their model sets ``max_memory_mb``.
        memory_reserve_mb: memory (MB) kept free for everything else on the machine.
        warm_memory_mb: the most resident memory all warm processes together may hold
            (models' ``warm``); a process that would pass it is not started.
        heartbeat_lease_s: with a Redis store, how long after its last heartbeat a replica
            counts as dead (its running calls become ``interrupted``).
        heartbeat_every_s: seconds between a replica's heartbeats (under `heartbeat_lease_s`).
        replica_sweep_s: seconds between a replica's looks for dead replicas' calls.
        concurrency_lease_s: how long a global concurrency slot (``concurrency_scope =
            "global"``) outlives a replica that stopped renewing it (crashed).
    """

    default_max_concurrency: int = field(default=8, validator=_positive)
    grace_period_s: float = field(default=3.0, validator=_finite_non_negative)
    max_output_bytes: int = field(default=32 * 1024 * 1024, validator=_positive)
    stderr_tail_bytes: int = field(default=8192, validator=_positive)
    stop_after_repeated_errors: int = field(default=3, validator=_non_negative)
    memory_admission: bool = True
    memory_reserve_mb: int = field(default=256, validator=_non_negative)
    warm_memory_mb: int = field(default=2048, validator=_positive)
    heartbeat_lease_s: float = field(default=10.0, validator=_finite_positive)
    heartbeat_every_s: float = field(default=3.0, validator=_finite_positive)
    replica_sweep_s: float = field(default=5.0, validator=_finite_positive)
    concurrency_lease_s: float = field(default=30.0, validator=_finite_positive)

    def __attrs_post_init__(self) -> None:
        if self.heartbeat_every_s >= self.heartbeat_lease_s:
            raise FieldValueError(
                "heartbeat_every_s",
                f"heartbeat_every_s ({self.heartbeat_every_s}) must be shorter than "
                f"heartbeat_lease_s ({self.heartbeat_lease_s}): beat a few times per lease "
                "(e.g. every 3 s for a 10 s lease)",
            )


@frozen(kw_only=True)
class BudgetSettings:
    """What a config file's ``[budget]`` table may set: spending limits over every model.

    Attributes:
        daily_usd: what all calls may cost per UTC day (None: no limit).
        monthly_usd: what all calls may cost per UTC calendar month (None: no limit).

    A call that would start after a limit is spent fails with ``budget_exceeded`` before any
    process starts; models may have their own (`ModelSpec.budget_daily_usd`).
    """

    daily_usd: float | None = field(default=None, validator=_optional_finite_non_negative)
    monthly_usd: float | None = field(default=None, validator=_optional_finite_non_negative)


@frozen(kw_only=True)
class ServerSettings:
    """What a config file's ``[server]`` table may set for ``llminst serve``.

    Attributes:
        allow_commands: executables (names looked up on PATH, or absolute paths) that
            ``configure_llm`` may point a model at; empty means any command on stdio, and no
            remote configuration at all over HTTP. Adds to ``--allow-command``.
        allowed_roots: directories under which a call's ``cwd`` may lie (compared as real
            paths, so a symlink cannot lead out); empty means any directory on stdio, and no
            per-call ``cwd`` at all over HTTP. Adds to ``--allow-root``.
        max_result_chars: output characters one tool result carries at most (execute_llm,
            stream_llm, a get_llm_result piece); the rest is read in pieces (see `paging`).
    """

    allow_commands: tuple[str, ...] = field(
        default=(), converter=_to_tuple, validator=_each_non_empty
    )
    allowed_roots: tuple[str, ...] = field(
        default=(), converter=_to_tuple, validator=_each_non_empty_path
    )
    max_result_chars: int = field(default=DEFAULT_MAX_RESULT_CHARS, validator=_positive)


def split_model_name(model: str) -> tuple[str, str | None]:
    """``claude:sonnet`` -> (``claude``, ``sonnet``); ``echo`` -> (``echo``, None)."""
    base, sep, sub = model.partition(":")
    return base, (sub or None) if sep else None


def _store_path(_inst: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not (
        value == "memory" or value.startswith(("/", "~", "redis://", "rediss://"))
    ):
        raise FieldValueError(
            attribute.name,
            f"{attribute.name} must be an absolute path, a path starting with ~, "
            f'"memory" or a redis:// URL; got {value!r}',
        )


@frozen(kw_only=True)
class StoreSettings:
    """What a config file's ``[store]`` table may set: where calls are recorded.

    Attributes:
        path: the store's SQLite file (``~`` expanded), ``"memory"`` to keep nothing on disk, or
            a ``redis://HOST:PORT/DB`` URL (a store replicas share);
            None: ``llminst.sqlite3`` in the user data directory. ``--store`` overrides it.
        keep_prompts: keep each call's prompt in its record (false: the answer only).
        retention_days: calls older than this are deleted when a store is opened.
    """

    path: str | None = field(default=None, validator=_store_path)
    keep_prompts: bool = True
    retention_days: int = field(default=30, validator=_positive)
