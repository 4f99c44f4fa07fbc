"""Compatibility shim: removed when issue 11 lands (the errors live in `llminst._core.errors`)."""

from ._core.errors import (
    ApiUnreachableError,
    CallTimeoutError,
    CLINotFoundError,
    ConfigError,
    CredentialsMissingError,
    InvalidInputError,
    InvalidJSONSchemaError,
    JSONNotFoundError,
    JSONSchemaMismatchError,
    LLMError,
    ProcessFailedError,
    RateLimitedError,
    UnknownModelError,
)

__all__ = [
    "ApiUnreachableError",
    "CLINotFoundError",
    "CallTimeoutError",
    "ConfigError",
    "CredentialsMissingError",
    "InvalidInputError",
    "InvalidJSONSchemaError",
    "JSONNotFoundError",
    "JSONSchemaMismatchError",
    "LLMError",
    "ProcessFailedError",
    "RateLimitedError",
    "UnknownModelError",
]
