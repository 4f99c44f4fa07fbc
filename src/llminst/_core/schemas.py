"""JSON Schemas for JSON mode: parsing and checking the caller's schema, and building its validator.

This module owns what a usable schema is: JSON (no NaN, no non-string keys), at most
`MAX_SCHEMA_BYTES` and `MAX_SCHEMA_DEPTH` deep, valid against its dialect's meta-schema, with every
``$ref`` resolvable inside the schema itself and no reference loop. `parse_schema` refuses anything
else with an `InvalidJSONSchemaError` that names the cause and where it is; `validator_for` builds
the validator `jsonmode` checks candidates with.

It must never do I/O, and above all never touch the network: every validator gets an empty
`referencing` registry, so a ``$ref`` that does not point inside the schema (or at a bundled JSON
Schema meta-schema) is rejected here and fails validation later; it is never fetched.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final

import referencing
import referencing.exceptions
import referencing.jsonschema
from jsonschema import (
    Draft3Validator,
    Draft4Validator,
    Draft6Validator,
    Draft7Validator,
    Draft201909Validator,
    Draft202012Validator,
)
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator

from .errors import InvalidJSONSchemaError

__all__ = [
    "DEFAULT_SCHEMA",
    "MAX_SCHEMA_BYTES",
    "MAX_SCHEMA_DEPTH",
    "parse_schema",
    "reject_constant",
    "shorten",
    "unresolvable_reference",
    "validator_for",
]

DEFAULT_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
    "required": ["question", "answer"],
}
"""The schema used when the caller asks for JSON mode without giving one."""

MAX_SCHEMA_BYTES: Final = 256 * 1024
"""Largest accepted schema, in bytes of compact UTF-8 JSON."""
MAX_SCHEMA_DEPTH: Final = 64
"""Deepest accepted nesting of objects and arrays in a schema."""

_EXAMPLE: Final = '{"type": "object", "properties": {"answer": {"type": "string"}}}'

_VALIDATOR_CLASSES: Final[tuple[type[Validator], ...]] = (
    Draft202012Validator,
    Draft201909Validator,
    Draft7Validator,
    Draft6Validator,
    Draft4Validator,
    Draft3Validator,
)
_DIALECTS: Final[dict[str, type[Validator]]] = {
    str(cls.META_SCHEMA.get("$id", cls.META_SCHEMA.get("id", ""))).rstrip("#"): cls
    for cls in _VALIDATOR_CLASSES
}


_BUNDLED_PREFIXES: Final = ("https://json-schema.org/", "http://json-schema.org/")
"""References to the JSON Schema meta-schemas, which jsonschema bundles and resolves offline."""


def _registry() -> referencing.Registry[Any]:
    """An empty registry: its default ``retrieve`` raises `NoSuchResource`, so nothing outside the
    schema is ever fetched (without a registry, jsonschema would fetch remote ``$ref``s)."""
    return referencing.Registry()


def parse_schema(schema: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """Parse and check the JSON Schema a caller gave for JSON mode.

    Args:
        schema: JSON text, an already parsed mapping, or None for `DEFAULT_SCHEMA`.

    Returns:
        A fresh plain ``dict`` (never shared with the caller or with `DEFAULT_SCHEMA`).

    Raises:
        InvalidJSONSchemaError: the text is not JSON, the value is not a JSON object, it is too
            large (`MAX_SCHEMA_BYTES`) or too deep (`MAX_SCHEMA_DEPTH`), it is not a valid JSON
            Schema, names an unknown ``$schema`` dialect, has a ``$ref`` that cannot be resolved
            inside the schema (remote references are never fetched), or refers to itself in a
            loop. The message names the cause and where it is.
    """
    if schema is None:
        return copy.deepcopy(DEFAULT_SCHEMA)
    value = _load_schema_text(schema) if isinstance(schema, str) else schema
    plain = _plain_json(value, "$", 0)
    if not isinstance(plain, dict):
        raise InvalidJSONSchemaError(
            f"json_schema must be a JSON object, got {_json_type(plain)}; "
            f"pass an object such as {_EXAMPLE}"
        )
    size = len(json.dumps(plain, separators=(",", ":")).encode())
    if size > MAX_SCHEMA_BYTES:
        raise InvalidJSONSchemaError(
            f"json_schema is too large ({size} bytes, at most {MAX_SCHEMA_BYTES}); use a smaller schema"
        )
    cls = _validator_class(plain)
    _check_against_meta_schema(cls, plain)
    _check_refs(cls, plain)
    _check_no_ref_loop(cls, plain)
    return plain


def _load_schema_text(text: str) -> Any:
    if len(text.encode()) > MAX_SCHEMA_BYTES:
        raise InvalidJSONSchemaError(
            f"json_schema is too large (more than {MAX_SCHEMA_BYTES} bytes); use a smaller schema"
        )
    try:
        return json.loads(text, parse_constant=reject_constant)
    except json.JSONDecodeError as e:
        raise InvalidJSONSchemaError(
            f"json_schema is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno}); "
            f"pass a JSON object such as {_EXAMPLE}"
        ) from None
    except ValueError as e:
        raise InvalidJSONSchemaError(f"json_schema is not valid JSON: {e}") from None
    except RecursionError:
        raise _too_deep("$") from None


def reject_constant(name: str) -> Any:
    """A ``parse_constant`` hook for `json`: ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON."""
    raise ValueError(f"{name} is not a JSON value")


def _plain_json(value: Any, path: str, depth: int) -> Any:
    """Copy `value` into plain dicts and lists, checking it is JSON and not too deep."""
    if depth > MAX_SCHEMA_DEPTH:
        raise _too_deep(path)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidJSONSchemaError(
                    f"json_schema has a non-string key {key!r} at {path}; JSON object keys are strings"
                )
            out[key] = _plain_json(item, _child_path(path, key), depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_plain_json(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidJSONSchemaError(f"json_schema has {value!r} at {path}, which is not JSON")
    if value is None or isinstance(value, str | int | float):
        return value
    raise InvalidJSONSchemaError(
        f"json_schema has a {type(value).__name__} at {path}, which is not a JSON value"
    )


def _child_path(path: str, key: str) -> str:
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"{path}[{key!r}]"


def _too_deep(path: str) -> InvalidJSONSchemaError:
    return InvalidJSONSchemaError(
        f"json_schema is nested too deeply at {path} (more than {MAX_SCHEMA_DEPTH} levels); "
        "flatten it or use $defs and $ref"
    )


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else type(value).__name__


def _validator_class(schema: Mapping[str, Any]) -> type[Validator]:
    dialect = schema.get("$schema")
    if dialect is None:
        return Draft202012Validator
    cls = _DIALECTS.get(str(dialect).rstrip("#")) if isinstance(dialect, str) else None
    if cls is None:
        known = ", ".join(sorted(_DIALECTS))
        raise InvalidJSONSchemaError(
            f"json_schema has an unknown $schema {dialect!r}; use one of {known}, or leave it out "
            "for draft 2020-12"
        )
    return cls


def _check_against_meta_schema(cls: type[Validator], schema: dict[str, Any]) -> None:
    try:
        cls.check_schema(schema)
    except SchemaError as e:
        raise InvalidJSONSchemaError(
            f"json_schema is not a valid JSON Schema: {shorten(e.message)} at {e.json_path}"
        ) from None
    except RecursionError:
        raise _too_deep("$") from None


def _check_refs(cls: type[Validator], schema: dict[str, Any]) -> None:
    """Resolve every ``$ref`` within the schema itself; anything else is an error, not a fetch."""
    dialect = cls.META_SCHEMA.get("$id", cls.META_SCHEMA.get("id", ""))
    specification = referencing.jsonschema.specification_with(str(dialect))
    root = specification.create_resource(schema)
    todo = [(root, _registry().resolver_with_root(root))]
    while todo:
        resource, resolver = todo.pop()
        contents = resource.contents
        for keyword in ("$ref", "$dynamicRef"):
            ref = contents.get(keyword) if isinstance(contents, dict) else None
            if not isinstance(ref, str) or ref.startswith(_BUNDLED_PREFIXES):
                continue
            try:
                resolver.lookup(ref)
            except referencing.exceptions.Unresolvable:
                raise InvalidJSONSchemaError(
                    f"json_schema has a {keyword} that does not resolve within the schema: "
                    f"{ref!r}; remote references are never fetched: put the definition under "
                    '$defs and refer to it as "#/$defs/NAME"'
                ) from None
        todo.extend((sub, resolver.in_subresource(sub)) for sub in resource.subresources())


def _check_no_ref_loop(cls: type[Validator], schema: dict[str, Any]) -> None:
    """A schema like ``{"$ref": "#"}`` recurses forever on any value; reject it up front."""
    validator = _new_validator(cls, schema)
    samples: tuple[Any, ...] = (None, 0, "", [], {})
    for sample in samples:
        try:
            validator.is_valid(sample)
        except RecursionError:
            raise InvalidJSONSchemaError(
                "json_schema refers to itself in a loop ($ref cycle that never reaches a "
                "keyword); every value would recurse forever"
            ) from None
        except referencing.exceptions.Unresolvable as e:
            raise unresolvable_reference(e) from None


def validator_for(schema: Mapping[str, Any]) -> Validator:
    """A validator for `schema` (as `parse_schema` returns it) in its ``$schema`` dialect, with a
    registry that resolves references only inside the schema and never fetches one."""
    return _new_validator(_validator_class(schema), schema)


def unresolvable_reference(error: referencing.exceptions.Unresolvable) -> InvalidJSONSchemaError:
    """The error for a reference found unresolvable while validating."""
    return InvalidJSONSchemaError(f"json_schema has an unresolvable reference: {error}")


def _new_validator(cls: type[Validator], schema: Mapping[str, Any]) -> Validator:
    return cls(schema, registry=_registry())


def shorten(text: str, limit: int = 300) -> str:
    """`text` cut to `limit` characters, ending in ``...`` when cut (for quoting in messages)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
