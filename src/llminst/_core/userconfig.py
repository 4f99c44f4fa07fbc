"""User configuration: TOML text in, validated settings and model specs out.

The caller reads the file (`llminst.configfile`); this module parses its text and structures it
field by field with cattrs hooks that never coerce (``"false"`` is not a bool, ``"foo"`` is not a
list). Every mistake is reported as a `ConfigError` naming the source, the full key path and what
was expected. `spec_from_mapping` builds one spec from plain data the same way (``configure_llm``
uses it). Pure: this module never opens a file or touches a process.
"""

from __future__ import annotations

import enum
import json
import math
import tomllib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from attrs import field, frozen

from .builtins import BUILTIN_MODELS
from .errors import ConfigError
from .spec import (
    BudgetSettings,
    FieldValueError,
    ModelSpec,
    ServerSettings,
    Settings,
    StoreSettings,
)
from .timeouts import TimeoutCategory

__all__ = ["UserConfig", "merge_models", "parse_config", "spec_from_mapping"]


@frozen(kw_only=True)
class UserConfig:
    """A parsed configuration file: settings plus models (complete specs, builtins merged)."""

    settings: Settings = field(factory=Settings)
    server: ServerSettings = field(factory=ServerSettings)
    store: StoreSettings = field(factory=StoreSettings)
    budget: BudgetSettings = field(factory=BudgetSettings)
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
_STORE_TYPES = _field_types(StoreSettings)
_BUDGET_TYPES = _field_types(BudgetSettings)

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
    except FieldValueError as exc:
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

    The file may contain ``[settings]``, ``[server]`` and ``[store]`` tables and ``[models.NAME]``
    tables. A model that shares a name with a built-in overrides only the keys it gives; a new
    model needs at least ``command``.

    Raises:
        ConfigError: naming `source`, the key and what was expected.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=source) from None
    unknown = sorted(set(data) - {"settings", "server", "store", "budget", "models"})
    if unknown:
        raise ConfigError(
            f"unknown top-level key(s) {', '.join(map(repr, unknown))}; "
            "use [settings], [server], [store], [budget] and [models.NAME]",
            source=source,
            key=unknown[0],
        )
    settings = _parse_table(data.get("settings", {}), Settings, _SETTINGS_TYPES, "settings", source)
    server = _parse_table(data.get("server", {}), ServerSettings, _SERVER_TYPES, "server", source)
    store = _parse_table(data.get("store", {}), StoreSettings, _STORE_TYPES, "store", source)
    budget = _parse_table(data.get("budget", {}), BudgetSettings, _BUDGET_TYPES, "budget", source)
    models_data = data.get("models", {})
    if not isinstance(models_data, dict):
        raise ConfigError("expected a table of models", source=source, key="models")
    models = {
        name: spec_from_mapping(
            name, table, base=builtins.get(name), source=source, key_prefix=f"models.{name}"
        )
        for name, table in models_data.items()
    }
    return UserConfig(settings=settings, server=server, store=store, budget=budget, models=models)


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
