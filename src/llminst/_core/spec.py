"""Model specs: what a model is (`ModelSpec`), its enums and placeholders, and its cross-field checks.

A `ModelSpec` says everything llminst needs to run one CLI: its argv, how the prompt reaches it,
which flags turn on streaming or JSON output, how its output is decoded, which environment it
gets, and how it reports rate limits and missing credentials. Specs are frozen; a runtime change
makes a new spec. What a config file may set beside models lives in `settings`; the per-field
checks in `fieldchecks` (this module keeps the checks that read several of a spec's fields).

Validators refuse a wrong value with a `FieldValueError` naming the field, so `userconfig` can
report it under its key path. Pure: this module never opens a file, reads the environment or
touches a process; the built-in models live in `builtins`, reading TOML in `userconfig`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs
from attrs import field, frozen

from .fieldchecks import (
    DEFAULT_FALLBACK_ON,
    FALLBACK_KINDS,
    FieldValueError,
    concurrency_scope,
    empty_to_none,
    fallback_kinds,
    finite_positive,
    model_names,
    non_empty_argv,
    non_negative,
    optional_finite_non_negative,
    optional_positive_seconds,
    positive,
    split_model_name,
    to_env,
    to_tuple,
    valid_hint_patterns,
    valid_model_name,
    valid_patterns,
)
from .settings import BudgetSettings, ServerSettings, Settings, StoreSettings
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


def _warm_needs_stream_json(inst: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    non_negative(inst, attribute, value)
    if value and inst.prompt_mode is not PromptMode.STREAM_JSON:
        raise FieldValueError(
            attribute.name,
            f'{attribute.name} = {value} needs prompt_mode = "stream-json": only a CLI that '
            "reads its prompt as a stream-json message can be started before the prompt is "
            f"known (this model's prompt_mode is {inst.prompt_mode.value!r}); set warm = 0",
        )


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

    name: str = field(validator=valid_model_name)
    command: tuple[str, ...] = field(converter=to_tuple, validator=non_empty_argv)
    prompt_mode: PromptMode = PromptMode.ARGV
    stdin_fallback: bool = False
    prompt_separator: str | None = field(default=None, converter=empty_to_none)
    argv_prompt_limit: int = field(default=DEFAULT_ARGV_PROMPT_LIMIT, validator=positive)
    stream_args: tuple[str, ...] = field(default=(), converter=to_tuple)
    json_args: tuple[str, ...] = field(default=(), converter=to_tuple)
    json_schema_args: tuple[str, ...] = field(default=(), converter=to_tuple)
    system_prompt_args: tuple[str, ...] = field(
        default=(), converter=to_tuple, validator=_carries_system_prompt
    )
    submodel_args: tuple[str, ...] = field(default=(), converter=to_tuple)
    default_submodel: str | None = field(
        default=None, converter=empty_to_none, validator=_needs_submodel_args
    )
    output_format: OutputFormat = OutputFormat.TEXT
    env: Mapping[str, str] = field(factory=dict, converter=to_env)
    env_remove: tuple[str, ...] = field(default=(), converter=to_tuple)
    credential_env: tuple[str, ...] = field(default=(), converter=to_tuple)
    rate_limit_patterns: tuple[str, ...] = field(
        default=(), converter=to_tuple, validator=valid_patterns
    )
    auth_patterns: tuple[str, ...] = field(default=(), converter=to_tuple, validator=valid_patterns)
    auth_hint: str | None = None
    unreachable_patterns: tuple[str, ...] = field(
        default=GENERIC_UNREACHABLE_PATTERNS, converter=to_tuple, validator=valid_patterns
    )
    unreachable_hint: str | None = None
    error_hints: Mapping[str, str] = field(
        factory=dict, converter=to_env, validator=valid_hint_patterns
    )
    install_hint: str | None = None
    timeout_category: TimeoutCategory = TimeoutCategory.NORMAL
    max_attempts: int = field(default=3, validator=positive)
    max_concurrency: int | None = field(default=None, validator=positive)
    concurrency_scope: str = field(default="local", validator=concurrency_scope)
    cwd: str | None = None
    version_command: tuple[str, ...] | None = field(
        default=None, converter=attrs.converters.optional(to_tuple)
    )
    account: str | None = field(default=None, converter=empty_to_none)
    fallbacks: tuple[str, ...] = field(default=(), converter=to_tuple, validator=model_names)
    fallback_on: tuple[str, ...] = field(
        default=DEFAULT_FALLBACK_ON, converter=to_tuple, validator=fallback_kinds
    )
    resume_args: tuple[str, ...] = field(
        default=(), converter=to_tuple, validator=_valid_resume_args
    )
    sessionless_args: tuple[str, ...] = field(default=(), converter=to_tuple)
    history_args: tuple[str, ...] = field(
        default=(), converter=to_tuple, validator=_valid_history_args
    )
    expected_memory_mb: int | None = field(default=None, validator=positive)
    max_memory_mb: int | None = field(default=None, validator=positive)
    cache_ttl_s: float | None = field(default=None, validator=optional_positive_seconds)
    price_in_per_mtok: float | None = field(default=None, validator=optional_finite_non_negative)
    price_out_per_mtok: float | None = field(default=None, validator=optional_finite_non_negative)
    budget_daily_usd: float | None = field(default=None, validator=optional_finite_non_negative)
    budget_monthly_usd: float | None = field(default=None, validator=optional_finite_non_negative)
    warm: int = field(default=0, validator=_warm_needs_stream_json)
    warm_idle_s: float = field(default=300.0, validator=finite_positive)

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
