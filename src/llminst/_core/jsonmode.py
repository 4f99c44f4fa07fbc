"""JSON mode: the instructions appended to a prompt, and finding the answer's JSON in the output.

This module owns what JSON mode does with text: the instructions that ask the model for JSON
(`json_instructions`, `apply_json_mode`, and `schema_from_prompt` to read them back) and finding
the one JSON value in free-form output that validates against the schema (`extract_json`). What
a usable schema is lives in `schemas`; where JSON may sit in prose, in `jsonscan`; how each CLI
wraps an answer in its own JSON, in `decoders`.

It must never do I/O: no trio, no files, no network. Every loop over model output is bounded
(candidates parsed, values validated, nesting depth, wrapper depth), so adversarial output costs
time linear in its length.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Final

import attrs
import referencing.exceptions
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.protocols import Validator

from .decoders import answer_in_wrapper
from .errors import JSONNotFoundError, JSONSchemaMismatchError
from .jsonscan import MAX_SPANS, balanced_spans, fenced_blocks
from .schemas import (
    reject_constant,
    shorten,
    unresolvable_reference,
    validator_for,
)

__all__ = [
    "SCHEMA_CLOSE_MARKER",
    "SCHEMA_OPEN_MARKER",
    "apply_json_mode",
    "extract_json",
    "json_instructions",
    "schema_from_prompt",
]

SCHEMA_OPEN_MARKER: Final = "<json_schema>"
SCHEMA_CLOSE_MARKER: Final = "</json_schema>"

MAX_PARSE_ATTEMPTS: Final = MAX_SPANS
"""How many bracketed spans of output the scan hands to the JSON parser, at most."""
MAX_VALIDATIONS: Final = 256
"""How many values (candidates and their nested values) are validated, at most."""
MAX_WRAPPER_DEPTH: Final = 3
"""How many CLI wrappers (a JSON result whose text holds the answer) are unwrapped, at most."""
MAX_TRAILING_PARSES: Final = 8
"""How many lines near the end of the output that start with a bracket are parsed, at most."""
MAX_WRAPPER_LINES: Final = 64
"""How many trailing lines are checked for a JSON-lines wrapper (e.g. ``stream-json``)."""
_PREVIEW_CHARS: Final = 200

_INSTRUCTIONS: Final = (
    "Respond with only one JSON value that matches the JSON Schema between the "
    f"{SCHEMA_OPEN_MARKER} and {SCHEMA_CLOSE_MARKER} lines below. Print nothing else: no prose "
    "before or after it, no explanation, no Markdown, no code fences."
)


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
    validator = validator_for(schema)
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
            raise unresolvable_reference(e) from None
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
    for block in fenced_blocks(text):
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
        return json.loads(text, parse_constant=reject_constant)
    except (ValueError, RecursionError):
        return _MISSING


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


_DECODER: Final = json.JSONDecoder(parse_constant=reject_constant)


def _scan_candidates(text: str, search: _Search) -> Iterator[_Candidate]:
    """Parse balanced spans outermost and leftmost first; a span that parses hides its insides."""
    todo = list(reversed(balanced_spans(text)))
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


# --- messages ------------------------------------------------------------------------------------


# The messages say what happened and what to do, but not where the output is: that differs by
# surface (a library caller has the exception's raw_output and candidate, an MCP client the
# text after the message and the result's output), so each surface adds its own pointer.


def _not_found_message(text: str) -> str:
    if not text.strip():
        return "the output is empty, so it contains no JSON; ask again"
    return (
        f"no JSON value found in the output ({len(text)} characters, starting "
        f"{shorten(text.strip(), _PREVIEW_CHARS)!r}); the model answered without JSON: ask again"
    )


def _mismatch_message(validator: Validator, candidate: Any, tried: int) -> str:
    try:
        error: ValidationError | None = best_match(validator.iter_errors(candidate))
    except RecursionError:
        error = None
    if error is None:
        where = "the value nests too deeply to validate"
    else:
        expected = shorten(json.dumps(error.validator_value, default=str), 120)
        where = (
            f"at {error.json_path}: {shorten(error.message)} "
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
    return shorten(text, _PREVIEW_CHARS)
