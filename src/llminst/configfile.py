"""Finding and reading the user's configuration file (the only file llminst reads on its own).

The path comes from the caller (``--config``), else ``$LLMINST_CONFIG``, else
``<user config dir>/llminst/config.toml`` (platformdirs). A missing default file is not an error;
a missing explicit file is. Parsing and validation live in `_core.userconfig`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import platformdirs

from ._core.builtins import BUILTIN_MODELS
from ._core.errors import ConfigError
from ._core.spec import ModelSpec
from ._core.userconfig import UserConfig, merge_models, parse_config

__all__ = ["default_config_path", "load_config", "load_models", "resolve_models"]


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir("llminst")) / "config.toml"


def load_config(path: str | os.PathLike[str] | None = None) -> UserConfig:
    """Load the configuration file.

    Args:
        path: an explicit file; None looks at $LLMINST_CONFIG, then the user config dir.

    Raises:
        ConfigError: the file named explicitly (or by $LLMINST_CONFIG) does not exist, cannot be
            read, or is invalid; the message names the file, the key and what was expected.
    """
    explicit = path if path is not None else os.environ.get("LLMINST_CONFIG") or None
    target = Path(explicit) if explicit is not None else default_config_path()
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit is None:
            return UserConfig()
        raise ConfigError(
            "file not found; create it or point --config / LLMINST_CONFIG at an existing file",
            source=str(target),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the file: {exc}", source=str(target)) from None
    return parse_config(text, source=str(target))


def resolve_models(config: UserConfig) -> Mapping[str, ModelSpec]:
    """The built-in models with the configuration's models layered on top."""
    return merge_models(BUILTIN_MODELS, config.models)


def load_models(path: str | os.PathLike[str] | None = None) -> Mapping[str, ModelSpec]:
    """The built-in models plus those of the configuration file (see `load_config`)."""
    return resolve_models(load_config(path))
