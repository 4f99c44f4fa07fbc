"""Field checks for specs and settings: the validators and converters attrs runs on each field.

Each validator refuses a wrong value with a `FieldValueError` naming the field, so `userconfig`
can report it under its key path; `split_model_name` and the fallback kinds live here because
the checks need them. Pure: never a file, the environment, a clock or a process.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "CONCURRENCY_SCOPES",
    "DEFAULT_FALLBACK_ON",
    "FALLBACK_KINDS",
    "FieldValueError",
    "concurrency_scope",
    "each_non_empty",
    "each_non_empty_path",
    "empty_to_none",
    "fallback_kinds",
    "finite_non_negative",
    "finite_positive",
    "model_name_problem",
    "model_names",
    "non_empty_argv",
    "non_negative",
    "optional_finite_non_negative",
    "optional_positive_seconds",
    "positive",
    "split_model_name",
    "store_path",
    "to_env",
    "to_tuple",
    "valid_hint_patterns",
    "valid_model_name",
    "valid_patterns",
]


class FieldValueError(ValueError):
    """A validator refused a field's value; `field` names it so config errors can give its key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def valid_model_name(_inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
    problem = model_name_problem(value)
    if problem is not None:
        raise FieldValueError(attribute.name, f"model name {value!r}: {problem}")


def model_name_problem(name: str) -> str | None:
    if not name:
        return "a model needs a non-empty name"
    if ":" in name:
        return '":" separates a sub-model (claude:sonnet); pick a name without it'
    if any(char.isspace() for char in name):
        return "whitespace is not allowed (names are typed in calls); use - or _ instead"
    if any(unicodedata.category(char) == "Cc" for char in name):
        return "control characters are not allowed; use letters, digits, - or _"
    return None


def non_empty_argv(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not value or not value[0].strip():
        raise FieldValueError(
            attribute.name, f"{attribute.name} must be a non-empty list of strings (argv)"
        )


def valid_patterns(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for pattern in value:
        try:
            re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise FieldValueError(
                attribute.name,
                f"{attribute.name}: {pattern!r} is not a valid regular expression ({exc}); "
                "escape special characters such as ( [ { * + ? with a backslash",
            ) from None


def valid_hint_patterns(
    _inst: object, attribute: attrs.Attribute[Any], value: Mapping[str, str]
) -> None:
    valid_patterns(_inst, attribute, tuple(value))


def each_non_empty(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if any(not item.strip() for item in value):
        raise FieldValueError(
            attribute.name, f"{attribute.name} must list executables; an empty name was given"
        )


def each_non_empty_path(
    _inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]
) -> None:
    if any(not item.strip() for item in value):
        raise FieldValueError(
            attribute.name, f"{attribute.name} must list directories; an empty path was given"
        )


def positive(_inst: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value < 1:
        raise FieldValueError(attribute.name, f"{attribute.name} must be at least 1, got {value}")


def non_negative(_inst: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if value < 0:
        raise FieldValueError(attribute.name, f"{attribute.name} must be at least 0, got {value}")


def finite_non_negative(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise FieldValueError(
            attribute.name, f"{attribute.name} must be a finite number, at least 0, got {value}"
        )


def optional_finite_non_negative(
    _inst: object, attribute: attrs.Attribute[Any], value: float | None
) -> None:
    if value is not None:
        finite_non_negative(_inst, attribute, value)


def optional_positive_seconds(
    _inst: object, attribute: attrs.Attribute[Any], value: float | None
) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise FieldValueError(
            attribute.name,
            f"{attribute.name} must be a finite number of seconds above 0, got {value}",
        )


def finite_positive(_inst: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise FieldValueError(
            attribute.name, f"{attribute.name} must be a finite number above 0, got {value}"
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


def fallback_kinds(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    unknown = [kind for kind in value if kind not in FALLBACK_KINDS]
    if unknown:
        raise FieldValueError(
            attribute.name,
            f"{attribute.name}: unknown error kind(s) {', '.join(map(repr, unknown))}; "
            f"valid kinds: {', '.join(FALLBACK_KINDS)}",
        )


def model_names(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for name in value:
        problem = model_name_problem(split_model_name(name)[0])
        if problem is not None:
            raise FieldValueError(attribute.name, f"{attribute.name}: {name!r}: {problem}")


def to_tuple(value: Any) -> tuple[str, ...]:
    """Python callers may give one string for a one-element list (config files may not)."""
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def to_env(value: Mapping[str, str]) -> Mapping[str, str]:
    return dict(value)


def empty_to_none(value: str | None) -> str | None:
    """``prompt_separator = ""`` means no separator, exactly like leaving it out."""
    return value or None


def split_model_name(model: str) -> tuple[str, str | None]:
    """``claude:sonnet`` -> (``claude``, ``sonnet``); ``echo`` -> (``echo``, None)."""
    base, sep, sub = model.partition(":")
    return base, (sub or None) if sep else None


def store_path(_inst: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not (
        value == "memory" or value.startswith(("/", "~", "redis://", "rediss://"))
    ):
        raise FieldValueError(
            attribute.name,
            f"{attribute.name} must be an absolute path, a path starting with ~, "
            f'"memory" or a redis:// URL; got {value!r}',
        )


CONCURRENCY_SCOPES = ("local", "global")


def concurrency_scope(_inst: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in CONCURRENCY_SCOPES:
        raise FieldValueError(
            attribute.name,
            f"{attribute.name} must be 'local' (per llminst process) or 'global' (per account "
            f"across the replicas sharing a Redis store), got {value!r}",
        )
