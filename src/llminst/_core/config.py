"""Compatibility shim: removed when issue 11 lands (see `spec`, `builtins` and `userconfig`)."""

from .builtins import BUILTIN_MODELS, GENERIC_RATE_LIMIT_PATTERNS
from .spec import (
    DEFAULT_ARGV_PROMPT_LIMIT,
    EXECUTABLE_PLACEHOLDER,
    GENERIC_UNREACHABLE_PATTERNS,
    PROMPT_PLACEHOLDER,
    SCHEMA_PLACEHOLDER,
    SUBMODEL_PLACEHOLDER,
    ModelSpec,
    OutputFormat,
    PromptMode,
    ServerSettings,
    Settings,
    split_model_name,
)
from .userconfig import UserConfig, merge_models, parse_config, spec_from_mapping

__all__ = [
    "BUILTIN_MODELS",
    "DEFAULT_ARGV_PROMPT_LIMIT",
    "EXECUTABLE_PLACEHOLDER",
    "GENERIC_RATE_LIMIT_PATTERNS",
    "GENERIC_UNREACHABLE_PATTERNS",
    "PROMPT_PLACEHOLDER",
    "SCHEMA_PLACEHOLDER",
    "SUBMODEL_PLACEHOLDER",
    "ModelSpec",
    "OutputFormat",
    "PromptMode",
    "ServerSettings",
    "Settings",
    "UserConfig",
    "merge_models",
    "parse_config",
    "spec_from_mapping",
    "split_model_name",
]
