"""JSON mode: the instructions appended to a prompt, finding JSON in a CLI's output, and schemas.

This module owns everything JSON mode means: parsing and checking the caller's JSON Schema
(`parse_schema`), the text that asks the model for JSON (`json_instructions`, `apply_json_mode`,
and `schema_from_prompt` to read it back), and finding the one JSON value in free-form output
that validates against the schema (`extract_json`).

It must never do I/O: no trio, no files, and above all no network. A ``$ref`` that does not point
inside the schema itself (or at a bundled JSON Schema meta-schema) is rejected by `parse_schema`
and fails validation later; it is never fetched. Every loop over model output is bounded
(candidates parsed, values validated, nesting depth, wrapper depth), so adversarial output costs
time linear in its length.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

import attrs
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
from jsonschema.exceptions import SchemaError, ValidationError, best_match
from jsonschema.protocols import Validator

from .decoders import answer_in_wrapper
from .errors import InvalidJSONSchemaError, JSONNotFoundError, JSONSchemaMismatchError

__all__ = [
    "DEFAULT_SCHEMA",
    "SCHEMA_CLOSE_MARKER",
    "SCHEMA_OPEN_MARKER",
    "apply_json_mode",
    "extract_json",
    "json_instructions",
    "parse_schema",
    "schema_from_prompt",
]

DEFAULT_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
    "required": ["question", "answer"],
}
"""The schema used when the caller asks for JSON mode without giving one."""

SCHEMA_OPEN_MARKER: Final = "<json_schema>"
SCHEMA_CLOSE_MARKER: Final = "</json_schema>"

MAX_SCHEMA_BYTES: Final = 256 * 1024
"""Largest accepted schema, in bytes of compact UTF-8 JSON."""
MAX_SCHEMA_DEPTH: Final = 64
"""Deepest accepted nesting of objects and arrays in a schema."""
MAX_PARSE_ATTEMPTS: Final = 64
"""How many bracketed spans of output the scan hands to the JSON parser, at most."""
MAX_VALIDATIONS: Final = 256
"""How many values (candidates and their nested values) are validated, at most."""
MAX_VALUE_DEPTH: Final = 128
"""Bracketed spans nested deeper than this are not parsed (their inner spans still are)."""
MAX_WRAPPER_DEPTH: Final = 3
"""How many CLI wrappers (a JSON result whose text holds the answer) are unwrapped, at most."""
MAX_FENCED_BLOCKS: Final = 32
MAX_TRAILING_PARSES: Final = 8
"""How many lines near the end of the output that start with a bracket are parsed, at most."""
MAX_WRAPPER_LINES: Final = 64
"""How many trailing lines are checked for a JSON-lines wrapper (e.g. ``stream-json``)."""
_MAX_CHILDREN: Final = MAX_PARSE_ATTEMPTS
_PREVIEW_CHARS: Final = 200

_INSTRUCTIONS: Final = (
    "Respond with only one JSON value that matches the JSON Schema between the "
    f"{SCHEMA_OPEN_MARKER} and {SCHEMA_CLOSE_MARKER} lines below. Print nothing else: no prose "
    "before or after it, no explanation, no Markdown, no code fences."
)
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


# --- schemas -------------------------------------------------------------------------------------


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
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise InvalidJSONSchemaError(
            f"json_schema is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno}); "
            f"pass a JSON object such as {_EXAMPLE}"
        ) from None
    except ValueError as e:
        raise InvalidJSONSchemaError(f"json_schema is not valid JSON: {e}") from None
    except RecursionError:
        raise _too_deep("$") from None


def _reject_constant(name: str) -> Any:
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
            f"json_schema is not a valid JSON Schema: {_shorten(e.message)} at {e.json_path}"
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
            raise InvalidJSONSchemaError(
                f"json_schema has an unresolvable reference: {e}"
            ) from None


def _new_validator(cls: type[Validator], schema: Mapping[str, Any]) -> Validator:
    return cls(schema, registry=_registry())


# --- instructions --------------------------------------------------------------------------------


def json_instructions(schema: Mapping[str, Any]) -> str:
    """The text appended to a prompt to ask for JSON matching `schema`.

    The schema is printed between a line `SCHEMA_OPEN_MARKER` and a line `SCHEMA_CLOSE_MARKER`.
    Every ``<`` in it is written as the JSON escape ``\\u003c``, so the schema text can never
    contain a marker line and `schema_from_prompt` reads it back exactly.

    Args:
        schema: a JSON Schema, as returned by `parse_schema`.

    Returns:
        The instructions, starting with a newline and ending without one.
    """
    text = json.dumps(schema, indent=2, ensure_ascii=False).replace("<", "\\u003c")
    return f"\n{_INSTRUCTIONS}\n{SCHEMA_OPEN_MARKER}\n{text}\n{SCHEMA_CLOSE_MARKER}"


def apply_json_mode(prompt: str, schema: Mapping[str, Any]) -> str:
    """Return `prompt` followed by a blank line and `json_instructions(schema)`."""
    return f"{prompt.rstrip()}\n{json_instructions(schema)}"


def schema_from_prompt(prompt: str) -> dict[str, Any] | None:
    """Read back the schema that `apply_json_mode` put into `prompt`.

    The last ``<json_schema>`` line wins, so marker text inside the user's own prompt does not
    confuse it. Returns None when there is no complete, parseable marker block.
    """
    opener = f"\n{SCHEMA_OPEN_MARKER}\n"
    start = prompt.rfind(opener)
    if start < 0:
        return None
    body_start = start + len(opener)
    end = prompt.find(f"\n{SCHEMA_CLOSE_MARKER}", body_start - 1)
    if end < 0:
        return None
    try:
        schema = json.loads(prompt[body_start:end])
    except (ValueError, RecursionError):
        return None
    return schema if isinstance(schema, dict) else None


# --- extraction ----------------------------------------------------------------------------------


def extract_json(text: str, schema: Mapping[str, Any]) -> Any:
    """Find the JSON value in a model's output that validates against `schema`.

    Candidates are tried in this order, and the first that validates is returned:

    1. the whole output, stripped;
    2. each fenced code block labelled ``json`` or unlabelled, in order;
    3. the answer inside a JSON wrapper printed by the CLI itself (claude's
       ``{"type": "result", "result": "..."}``, gemini's ``{"response": "..."}``, a codex
       ``agent_message`` item, also as the last lines of JSON-lines output), searched again by
       steps 1-4, up to `MAX_WRAPPER_DEPTH` wrappers deep;
    4. every balanced ``{...}`` and ``[...]`` span, outermost and leftmost first, skipping
       brackets inside JSON strings; a span that parses but does not validate has its nested
       objects and arrays tried instead;
    5. a value starting one of the last lines (the answer printed after too much noise for the
       scan's budget), last line first.

    The scan is a single pass over the text; at most `MAX_PARSE_ATTEMPTS` spans are parsed and
    `MAX_VALIDATIONS` values validated, so the work stays linear in the output's length.

    Args:
        text: the model's output.
        schema: a JSON Schema, as returned by `parse_schema`.

    Returns:
        The first candidate that validates (any JSON value).

    Raises:
        JSONNotFoundError: no JSON value was found at all (`raw_output` holds `text`).
        JSONSchemaMismatchError: JSON was found but none validates; the message gives the
            validation error of the first value found, its JSON path and what the schema
            expected; `candidate` holds that value and `raw_output` holds `text`.
        InvalidJSONSchemaError: `schema` itself is unusable (for example an unresolvable
            ``$ref``); `parse_schema` catches these earlier.
    """
    validator = _new_validator(_validator_class(schema), schema)
    search = _Search(validator)
    for candidate in _candidates(text, search, depth=0):
        if search.accepts(candidate):
            return search.found
    if search.first is _MISSING:
        raise JSONNotFoundError(_not_found_message(text), raw_output=text)
    raise JSONSchemaMismatchError(
        _mismatch_message(validator, search.first, search.validations),
        raw_output=text,
        candidate=search.first,
    )


_MISSING: Final = object()


@attrs.frozen
class _Candidate:
    value: Any
    wrapper: bool = False
    nested: bool = False
    """Also try the objects and arrays nested inside `value` (scan candidates only)."""


@attrs.define
class _Search:
    """The state of one `extract_json` call: budgets, the first value seen, the winner."""

    validator: Validator
    parses_left: int = MAX_PARSE_ATTEMPTS
    validations: int = 0
    first: Any = _MISSING
    found: Any = None

    def accepts(self, candidate: _Candidate) -> bool:
        if not candidate.wrapper and self.first is _MISSING:
            self.first = candidate.value
        if self._valid(candidate.value):
            return True
        if candidate.nested:
            for value in _nested_values(candidate.value):
                if self.validations >= MAX_VALIDATIONS:
                    break
                if self._valid(value):
                    return True
        return False

    def _valid(self, value: Any) -> bool:
        if self.validations >= MAX_VALIDATIONS:
            return False
        self.validations += 1
        try:
            valid = self.validator.is_valid(value)
        except RecursionError:
            return False
        except referencing.exceptions.Unresolvable as e:
            raise InvalidJSONSchemaError(
                f"json_schema has an unresolvable reference: {e}"
            ) from None
        if valid:
            self.found = value
        return valid


def _nested_values(value: Any) -> Iterator[Any]:
    """The objects and arrays inside `value` (not `value` itself), depth first, in order."""
    stack = [iter(_children(value))]
    while stack:
        child = next(stack[-1], _MISSING)
        if child is _MISSING:
            stack.pop()
        elif isinstance(child, dict | list):
            yield child
            stack.append(iter(_children(child)))


def _children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    return value if isinstance(value, list) else []


def _candidates(text: str, search: _Search, depth: int) -> Iterator[_Candidate]:
    whole = _loads(text.strip())
    if whole is not _MISSING:
        yield _Candidate(whole, wrapper=answer_in_wrapper(whole) is not None)
    for block in _fenced_blocks(text):
        value = _loads(block.strip())
        if value is not _MISSING:
            yield _Candidate(value)
    if depth < MAX_WRAPPER_DEPTH:
        for inner in _wrapped_texts(text, whole):
            yield from _candidates(inner, search, depth + 1)
    yield from _scan_candidates(text, search)
    yield from _trailing_candidates(text)


def _trailing_candidates(text: str) -> Iterator[_Candidate]:
    """Values starting a line near the end, last first: the answer after megabytes of noise.

    The bracket scan stops after `MAX_PARSE_ATTEMPTS` spans from the left, so an answer printed
    last would never be reached; at most `MAX_TRAILING_PARSES` of the last `MAX_WRAPPER_LINES`
    lines are parsed (each parse stops at the end of its value or at the first error).
    """
    end = len(text)
    parses = 0
    for _ in range(MAX_WRAPPER_LINES):
        if end <= 0 or parses >= MAX_TRAILING_PARSES:
            return
        start = text.rfind("\n", 0, end) + 1
        offset = start + len(text[start:end]) - len(text[start:end].lstrip())
        end = start - 1
        if offset < len(text) and text[offset] in "{[":
            parses += 1
            try:
                value, _ = _DECODER.raw_decode(text, offset)
            except (ValueError, RecursionError):
                continue
            yield _Candidate(value, wrapper=answer_in_wrapper(value) is not None, nested=True)


def _loads(text: str) -> Any:
    """Parse strict JSON (no NaN or Infinity); `_MISSING` when it is not JSON or too deep."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return _MISSING


def _fenced_blocks(text: str) -> Iterator[str]:
    """The bodies of Markdown code fences labelled ``json`` (or not labelled), in order."""
    pos = 0
    for _ in range(MAX_FENCED_BLOCKS):
        start = text.find("```", pos)
        eol = text.find("\n", start + 3) if start >= 0 else -1
        if eol < 0:
            return
        label = text[start + 3 : eol].strip().lower()
        if "```" in label:  # inline code on one line, not a fence
            pos = start + 3 + text[start + 3 : eol].index("```") + 3
            continue
        close = text.find("```", eol + 1)
        if close < 0:
            return
        if label in ("", "json", "jsonc", "json5", "jsonl"):
            yield text[eol + 1 : close]
        pos = close + 3


# --- CLI wrappers --------------------------------------------------------------------------------


def _wrapped_texts(text: str, whole: Any) -> Iterator[str]:
    """Answer texts inside CLI wrappers: the whole output, else its last JSON lines, last first."""
    inner = answer_in_wrapper(whole)
    if inner is not None:
        yield inner
        return
    if whole is not _MISSING:
        return
    lines = text.rsplit("\n", MAX_WRAPPER_LINES)
    for line in reversed(lines[-MAX_WRAPPER_LINES:]):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            inner = answer_in_wrapper(_loads(line))
            if inner is not None:
                yield inner


# --- the bracket scan ----------------------------------------------------------------------------


@attrs.frozen
class _Span:
    """A balanced bracket pair at ``text[start:end]`` and the spans directly inside it."""

    start: int
    end: int
    children: list[_Span]


class _Frame:
    """An open bracket on the scan's stack (a plain class: one is made per opening bracket)."""

    __slots__ = ("children", "height", "opener", "start")

    def __init__(self, opener: str, start: int) -> None:
        self.opener = opener
        self.start = start
        self.children: list[_Span] = []
        self.height = 0
        """How deeply brackets nest inside this one so far."""


_NORMAL: Final = re.compile(r'[\[\]{}"]')
_IN_STRING: Final = re.compile(r'["\\\n]')
_OPENER_OF: Final = {"}": "{", "]": "["}
_PLAUSIBLE: Final = re.compile(r'\{\s*["}]|\[\s*[\[\]{"\-0-9tfn]')
"""How a JSON object or array can start; other spans are not worth parsing."""
_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant)


def _scan_candidates(text: str, search: _Search) -> Iterator[_Candidate]:
    """Parse balanced spans outermost and leftmost first; a span that parses hides its insides."""
    todo = list(reversed(_balanced_spans(text)))
    while todo and search.parses_left > 0:
        span = todo.pop()
        search.parses_left -= 1
        try:
            value, _ = _DECODER.raw_decode(text, span.start)
        except (ValueError, RecursionError):
            todo.extend(reversed(span.children))
            continue
        wrapper = answer_in_wrapper(value) is not None
        yield _Candidate(value, wrapper=wrapper, nested=not wrapper)


def _balanced_spans(text: str) -> list[_Span]:
    """The top-level balanced ``{...}``/``[...]`` spans of `text`, each with its nested spans.

    One left-to-right pass with a stack of open brackets, jumping between bracket and quote
    characters with a regex. Outside any bracket, quotes are prose and ignored; inside, a ``"``
    starts a JSON string in which brackets and escaped characters do not count, ended by the
    next unescaped ``"`` (or a newline, which a JSON string cannot hold). A closer pops back to
    the nearest opener of its kind (the openers it skips were unbalanced, and their spans move up
    to their parent); a closer with no such opener is ignored. Spans that cannot start a JSON
    value (``{name}``, ``[see above]``) or nest deeper than `MAX_VALUE_DEPTH` are dropped but
    their insides kept. Each span keeps at most `_MAX_CHILDREN` children and at most that many
    top-level spans are returned (each costs a parse, and only `MAX_PARSE_ATTEMPTS` are made), so
    the pass stops once no more could be kept.
    """
    roots: list[_Span] = []
    stack: list[_Frame] = []
    open_counts = {"{": 0, "[": 0}
    pos = 0
    in_string = False
    while stack or len(roots) < _MAX_CHILDREN:
        match = (_IN_STRING if in_string else _NORMAL).search(text, pos)
        if match is None:
            break
        char, pos = match.group(), match.end()
        if in_string:
            if char == "\\":
                pos += 1
            else:
                in_string = False
        elif char == '"':
            in_string = bool(stack)
        elif char in "{[":
            stack.append(_Frame(char, match.start()))
            open_counts[char] += 1
        elif open_counts[_OPENER_OF[char]]:
            _close(text, stack, roots, open_counts, _OPENER_OF[char], pos)
    while stack:
        _drop(stack.pop(), stack, roots)
    return roots


def _close(
    text: str,
    stack: list[_Frame],
    roots: list[_Span],
    open_counts: dict[str, int],
    opener: str,
    end: int,
) -> None:
    """Pop frames down to the nearest `opener`, which becomes a span; the others are dropped."""
    while True:
        frame = stack.pop()
        open_counts[frame.opener] -= 1
        if frame.opener == opener:
            break
        _drop(frame, stack, roots)
    height = frame.height + 1
    if stack:
        stack[-1].height = max(stack[-1].height, height)
    siblings = stack[-1].children if stack else roots
    if height > MAX_VALUE_DEPTH or not _PLAUSIBLE.match(text, frame.start):
        _keep(siblings, frame.children)
    elif len(siblings) < _MAX_CHILDREN:
        siblings.append(_Span(frame.start, end, frame.children))


def _drop(frame: _Frame, stack: list[_Frame], roots: list[_Span]) -> None:
    """An unbalanced opener: its spans move up to its parent."""
    if stack:
        stack[-1].height = max(stack[-1].height, frame.height)
    _keep(stack[-1].children if stack else roots, frame.children)


def _keep(siblings: list[_Span], spans: list[_Span]) -> None:
    if spans and len(siblings) < _MAX_CHILDREN:
        siblings.extend(spans[: _MAX_CHILDREN - len(siblings)])


# --- messages ------------------------------------------------------------------------------------


# The messages say what happened and what to do, but not where the output is: that differs by
# surface (a library caller has the exception's raw_output and candidate, an MCP client the
# text after the message and the result's output), so each surface adds its own pointer.


def _not_found_message(text: str) -> str:
    if not text.strip():
        return "the output is empty, so it contains no JSON; ask again"
    return (
        f"no JSON value found in the output ({len(text)} characters, starting "
        f"{_shorten(text.strip(), _PREVIEW_CHARS)!r}); the model answered without JSON: ask again"
    )


def _mismatch_message(validator: Validator, candidate: Any, tried: int) -> str:
    try:
        error: ValidationError | None = best_match(validator.iter_errors(candidate))
    except RecursionError:
        error = None
    if error is None:
        where = "the value nests too deeply to validate"
    else:
        expected = _shorten(json.dumps(error.validator_value, default=str), 120)
        where = (
            f"at {error.json_path}: {_shorten(error.message)} "
            f"(the schema expects {error.validator}: {expected})"
        )
    return (
        f"the output contains JSON but none of it matches the schema ({tried} value(s) checked); "
        f"first value found: {_preview(candidate)}, {where}. Ask again, or relax the schema"
    )


def _preview(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (ValueError, RecursionError):
        text = "(a deeply nested value)"
    return _shorten(text, _PREVIEW_CHARS)


def _shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
