"""The exceptions llminst raises: one base class, one subclass per failure a caller handles differently.

Every message says what happened and what to do about it. Errors raised after a process ran carry
the `CallResult` collected so far (`error.result`), so no output the user paid for is ever lost.
Each class also subclasses the matching builtin (`LookupError`, `TimeoutError`, `ValueError`, ...)
so callers can catch what they already expect. This module must stay free of I/O and of trio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .result import CallResult

__all__ = [
    "ApiUnreachableError",
    "BudgetExceededError",
    "CLINotFoundError",
    "CallTimeoutError",
    "ConfigError",
    "CredentialsMissingError",
    "InvalidInputError",
    "InvalidJSONSchemaError",
    "JSONNotFoundError",
    "JSONSchemaMismatchError",
    "LLMError",
    "MemoryExceededError",
    "ProcessFailedError",
    "RateLimitedError",
    "StoreUnavailableError",
    "UnknownCallError",
    "UnknownModelError",
]


class LLMError(Exception):
    """Base class of every error llminst raises on purpose.

    Attributes:
        kind: a short stable name for the failure (``"timeout"``, ``"rate_limited"``, ...).
        message: what happened, including what to do about it.
        result: the `CallResult` collected before the failure, when a process ran.
    """

    kind = "error"

    def __init__(self, message: str, *, result: CallResult | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.result = result

    def __str__(self) -> str:
        return self.message


class InvalidInputError(LLMError, ValueError):
    """The request itself is wrong (bad argument, prompt that cannot be passed, ...)."""

    kind = "invalid_input"


class ConfigError(InvalidInputError):
    """A configuration file or runtime model definition is invalid.

    Attributes:
        source: the file (or ``"<runtime>"``) the mistake is in.
        key: the dotted key path of the mistake, when known.
    """

    kind = "config"

    def __init__(self, message: str, *, source: str = "<runtime>", key: str | None = None) -> None:
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + message)
        self.source = source
        self.key = key


class UnknownModelError(LLMError, LookupError):
    """No model of that name is configured."""

    kind = "unknown_model"

    def __init__(self, model: str, known: list[str]) -> None:
        super().__init__(
            f"unknown model {model!r}; known models: {', '.join(sorted(known))}. "
            "Add it to the config file or with configure_llm."
        )
        self.model = model
        self.known = sorted(known)


class UnknownCallError(LLMError, LookupError):
    """No call of that id is known to this server (or it belongs to another client's token)."""

    kind = "unknown_call"


class CLINotFoundError(LLMError, FileNotFoundError):
    """The model's executable is not installed or not on PATH."""

    kind = "cli_not_found"

    def __init__(self, model: str, executable: str, hint: str | None = None) -> None:
        fix = hint or f"install {executable!r} or fix the model's command"
        super().__init__(f"executable {executable!r} for model {model!r} not found on PATH; {fix}")
        self.model = model
        self.executable = executable


class CredentialsMissingError(LLMError, PermissionError):
    """The CLI ran but reported that it is not logged in or has no API key."""

    kind = "credentials_missing"


class RateLimitedError(LLMError):
    """The CLI kept reporting a rate or usage limit.

    Attributes:
        reset_at: when the limit resets (epoch seconds), when the CLI said so.
    """

    kind = "rate_limited"

    def __init__(
        self, message: str, *, reset_at: float | None = None, result: CallResult | None = None
    ) -> None:
        super().__init__(message, result=result)
        self.reset_at = reset_at


class CallTimeoutError(LLMError, TimeoutError):
    """The call did not finish before its deadline; `partial_output` holds what arrived."""

    kind = "timeout"

    def __init__(self, message: str, *, timeout_s: float, result: CallResult | None = None) -> None:
        super().__init__(message, result=result)
        self.timeout_s = timeout_s

    @property
    def partial_output(self) -> str:
        return self.result.output if self.result is not None else ""


class ProcessFailedError(LLMError, RuntimeError):
    """The CLI exited unsuccessfully (non-zero exit, killed by a signal, or reported an error)."""

    kind = "process_failed"

    def __init__(
        self,
        message: str,
        *,
        exit_code: int | None,
        stderr_tail: str = "",
        result: CallResult | None = None,
    ) -> None:
        super().__init__(message, result=result)
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail


class MemoryExceededError(LLMError):
    """The CLI's process tree grew past its model's ``max_memory_mb`` and was killed.

    Attributes:
        peak_mb: the largest tree RSS measured, in MB.
        limit_mb: the model's ``max_memory_mb``.
    """

    kind = "memory_exceeded"

    def __init__(
        self,
        message: str,
        *,
        peak_mb: float,
        limit_mb: float,
        result: CallResult | None = None,
    ) -> None:
        super().__init__(message, result=result)
        self.peak_mb = peak_mb
        self.limit_mb = limit_mb


class ApiUnreachableError(LLMError, ConnectionError):
    """The CLI cannot reach its API (connection refused, no network, unresolvable host).

    Raised when the CLI failed with such an error, or when it kept repeating one instead of
    answering and was ended early (`Settings.stop_after_repeated_errors`).

    Attributes:
        exit_code: the CLI's exit code (negative for the signal that ended it early).
        stderr_tail: the end of its stderr.
    """

    kind = "api_unreachable"

    def __init__(
        self,
        message: str,
        *,
        exit_code: int | None = None,
        stderr_tail: str = "",
        result: CallResult | None = None,
    ) -> None:
        super().__init__(message, result=result)
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail


class InvalidJSONSchemaError(InvalidInputError):
    """The JSON schema given for JSON mode is not JSON or not a valid JSON Schema."""

    kind = "invalid_json_schema"


class JSONNotFoundError(LLMError, ValueError):
    """JSON mode: no JSON value could be found in the output (`raw_output` has it)."""

    kind = "json_not_found"

    def __init__(self, message: str, *, raw_output: str, result: CallResult | None = None) -> None:
        super().__init__(message, result=result)
        self.raw_output = raw_output

    def __str__(self) -> str:
        # Where the output is depends on the surface: here, on this exception.
        return f"{self.message} (the output is in raw_output)" if self.raw_output else self.message


class JSONSchemaMismatchError(LLMError, ValueError):
    """JSON mode: JSON was found but none of it matches the schema."""

    kind = "json_schema_mismatch"

    def __init__(
        self,
        message: str,
        *,
        raw_output: str,
        candidate: Any = None,
        result: CallResult | None = None,
    ) -> None:
        super().__init__(message, result=result)
        self.raw_output = raw_output
        self.candidate = candidate

    def __str__(self) -> str:
        return f"{self.message} (the output is in raw_output, the first value found in candidate)"


class BudgetExceededError(LLMError):
    """A spending limit (``[budget]`` or a model's own) is spent: the call started nothing.

    Attributes:
        spent_usd: what the calls in the limit's period cost so far.
        limit_usd: the limit.
        resets_at: when the period ends (epoch seconds).
        scope: which limit (``daily``, ``monthly``, ``claude daily`` ...).
    """

    kind = "budget_exceeded"

    def __init__(
        self, message: str, *, spent_usd: float, limit_usd: float, resets_at: float, scope: str
    ) -> None:
        super().__init__(message)
        self.spent_usd = spent_usd
        self.limit_usd = limit_usd
        self.resets_at = resets_at
        self.scope = scope


class StoreUnavailableError(LLMError, ConnectionError):
    """The call store's server (Redis) cannot be reached now, and the call cannot go on without
    what it keeps: a session's turns. Nothing was started; try again once the store answers
    (a call outside any session runs while the store is away)."""

    kind = "store_unavailable"
