"""Tests for llminst._core.jsonmode: schemas, instructions, and finding JSON in model output."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from llminst._core.errors import InvalidJSONSchemaError, JSONNotFoundError, JSONSchemaMismatchError
from llminst._core.jsonmode import (
    SCHEMA_CLOSE_MARKER,
    SCHEMA_OPEN_MARKER,
    apply_json_mode,
    extract_json,
    json_instructions,
    schema_from_prompt,
)
from llminst._core.schemas import DEFAULT_SCHEMA, MAX_SCHEMA_BYTES, parse_schema

# Pure and fast, but timing noise on a busy machine is no failure.
pure_property = settings(deadline=None)

QA = {"question": "What is 2+2?", "answer": "4"}

# --- strategies ---------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**18), max_value=10**18)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
# Objects that match DEFAULT_SCHEMA, with arbitrary extra members.
answers = st.builds(
    lambda q, a, extra: {"question": q, "answer": a, **extra},
    st.text(),
    st.text(),
    st.dictionaries(st.text(max_size=8).filter(lambda k: k not in QA), json_values, max_size=3),
)
# Prose around the JSON: anything but quotes, backslashes, brackets and backticks.
prose = st.text(alphabet=st.characters(exclude_characters='"\\{}[]`'), max_size=60)
# Prose that may also hold brackets, balanced or not (still no quotes: see the scan's docstring).
bracketed_prose = st.text(alphabet=st.characters(exclude_characters='"\\`'), max_size=60)


def dumps(value: Any, *, indent: int | None = None, ascii_only: bool = True) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=ascii_only)


def is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def claude_wrapper(result: str) -> str:
    """What `claude -p --output-format json` prints around the model's answer."""
    return json.dumps(
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "duration_ms": 1234,
            "result": result,
            "session_id": "0f0f",
            "usage": {"input_tokens": 10, "output_tokens": 20},
        }
    )


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Make every attempt to open a connection fail the test (and record it)."""
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(repr(args))
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    yield attempts
    assert attempts == []


# --- parse_schema -------------------------------------------------------------------------------


class TestParseSchema:
    def test_none_gives_a_fresh_default(self) -> None:
        """None gives a copy of DEFAULT_SCHEMA that the caller may mutate freely."""
        schema = parse_schema(None)
        assert schema == DEFAULT_SCHEMA
        schema["properties"]["question"]["type"] = "integer"
        assert DEFAULT_SCHEMA["properties"]["question"] == {"type": "string"}

    def test_text_is_parsed(self) -> None:
        """A JSON string is parsed into a plain dict."""
        assert parse_schema('{"type": "object"}') == {"type": "object"}

    def test_mapping_is_copied_into_plain_json(self) -> None:
        """Any Mapping (and tuples) become fresh dicts and lists."""
        given_schema = MappingProxyType({"type": "object", "required": ("a",)})
        schema = parse_schema(given_schema)
        assert schema == {"type": "object", "required": ["a"]}
        assert type(schema) is dict

    def test_not_json(self) -> None:
        """Text that is not JSON names the parse error, its position and an example."""
        with pytest.raises(InvalidJSONSchemaError) as info:
            parse_schema('{"type": "object",}')
        message = str(info.value)
        assert "not valid JSON" in message
        assert "line 1, column" in message
        assert "such as {" in message

    @pytest.mark.parametrize(
        ("text", "kind"), [("[1, 2]", "an array"), ('"x"', "a string"), ("12", "a number")]
    )
    def test_not_an_object(self, text: str, kind: str) -> None:
        """A JSON value that is not an object is refused, naming what it was."""
        with pytest.raises(InvalidJSONSchemaError, match=f"must be a JSON object, got {kind}"):
            parse_schema(text)

    def test_invalid_schema_names_the_path(self) -> None:
        """A schema the meta-schema rejects names the problem and where it is."""
        with pytest.raises(InvalidJSONSchemaError) as info:
            parse_schema('{"type": 12}')
        assert "not a valid JSON Schema" in str(info.value)
        assert "$.type" in str(info.value)

    def test_invalid_nested_schema(self) -> None:
        """A mistake deep inside is reported with its full path."""
        with pytest.raises(InvalidJSONSchemaError, match=r"\$\.properties\.a\.minLength"):
            parse_schema({"properties": {"a": {"type": "string", "minLength": -1}}})

    def test_invalid_regex_pattern(self) -> None:
        """A `pattern` that is not a regex is caught at parse time."""
        with pytest.raises(InvalidJSONSchemaError, match="regex"):
            parse_schema({"properties": {"a": {"pattern": "("}}})

    def test_unknown_dialect(self) -> None:
        """An unknown `$schema` is an error listing the known ones, not a fetch."""
        with pytest.raises(InvalidJSONSchemaError, match="unknown \\$schema"):
            parse_schema({"$schema": "https://example.com/my-dialect", "type": "object"})

    def test_older_dialect(self) -> None:
        """Draft 7 schemas are accepted and validated by their own rules."""
        schema = parse_schema(
            {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "definitions": {"n": {"type": "integer"}},
                "properties": {"n": {"$ref": "#/definitions/n"}},
            }
        )
        assert extract_json('{"n": 3}', schema) == {"n": 3}
        with pytest.raises(JSONSchemaMismatchError):
            extract_json('{"n": "3"}', schema)

    def test_local_refs_work(self, no_network: list[str]) -> None:
        """`#/$defs/...` references resolve within the schema."""
        schema = parse_schema(
            {
                "$defs": {"qa": {"type": "object", "required": ["q"]}},
                "type": "array",
                "items": {"$ref": "#/$defs/qa"},
            }
        )
        assert extract_json('Here: [{"q": 1}, {"q": 2}]', schema) == [{"q": 1}, {"q": 2}]
        with pytest.raises(JSONSchemaMismatchError, match=r"\$\[1\]"):
            extract_json('[{"q": 1}, {"x": 2}]', schema)

    def test_refs_to_embedded_ids_work(self, no_network: list[str]) -> None:
        """A relative `$ref` to a subschema's own `$id` resolves without a fetch."""
        schema = parse_schema(
            {
                "$id": "https://example.com/root.json",
                "$defs": {"item": {"$id": "item.json", "type": "string"}},
                "properties": {"x": {"$ref": "item.json"}},
            }
        )
        assert extract_json('{"x": "y"}', schema) == {"x": "y"}

    def test_ref_to_meta_schema_works_offline(self, no_network: list[str]) -> None:
        """A `$ref` to the bundled draft 2020-12 meta-schema resolves offline."""
        schema = parse_schema({"$ref": "https://json-schema.org/draft/2020-12/schema"})
        assert extract_json('{"type": "string"}', schema) == {"type": "string"}
        with pytest.raises(JSONSchemaMismatchError):
            extract_json('{"type": 12}', schema)

    @pytest.mark.parametrize(
        "ref",
        [
            "http://example.com/schema.json",
            "https://example.com/schema.json#/$defs/x",
            "other.json",
            "#/$defs/missing",
        ],
    )
    def test_unresolvable_ref_is_never_fetched(self, ref: str, no_network: list[str]) -> None:
        """A `$ref` outside the schema is an error naming it; nothing is fetched."""
        with pytest.raises(InvalidJSONSchemaError) as info:
            parse_schema({"properties": {"a": {"$ref": ref}}})
        assert repr(ref) in str(info.value)
        assert "never fetched" in str(info.value)

    def test_remote_ref_at_validation_time_is_not_fetched(self, no_network: list[str]) -> None:
        """A schema that skipped parse_schema still never fetches a remote `$ref`."""
        schema = {"properties": {"a": {"$ref": "http://example.com/a.json"}}}
        with pytest.raises(InvalidJSONSchemaError, match="unresolvable reference"):
            extract_json('{"a": 1}', schema)

    def test_ref_loop(self) -> None:
        """A `$ref` cycle that would recurse forever is refused up front."""
        with pytest.raises(InvalidJSONSchemaError, match="loop"):
            parse_schema('{"$ref": "#"}')

    def test_recursive_schema_is_fine(self) -> None:
        """A recursive schema that consumes input on each step is accepted and works."""
        schema = parse_schema(
            {
                "type": "object",
                "properties": {"children": {"type": "array", "items": {"$ref": "#"}}},
                "required": ["children"],
            }
        )
        tree = {"children": [{"children": []}, {"children": [{"children": []}]}]}
        assert extract_json(json.dumps(tree), schema) == tree

    def test_too_large_text(self) -> None:
        """Schema text over the size cap is refused before parsing."""
        text = json.dumps({"description": "x" * MAX_SCHEMA_BYTES})
        with pytest.raises(InvalidJSONSchemaError, match="too large"):
            parse_schema(text)

    def test_too_large_mapping(self) -> None:
        """A mapping whose JSON is over the size cap is refused."""
        with pytest.raises(InvalidJSONSchemaError, match="too large"):
            parse_schema({"enum": ["x" * 1000] * 300})

    @pytest.mark.parametrize(
        "text",
        ['{"not": ' * 65 + "{}" + "}" * 65, '{"enum": ' + "[" * 100_000 + "]" * 100_000 + "}"],
        ids=["over the cap", "past the recursion limit"],
    )
    def test_too_deep_text(self, text: str) -> None:
        """Deeply nested schema text is refused with the depth cap, even past the recursion limit."""
        with pytest.raises(InvalidJSONSchemaError, match="nested too deeply"):
            parse_schema(text)

    def test_too_deep_mapping_and_cycles(self) -> None:
        """A mapping nested too deeply, or containing itself, is refused."""
        cyclic: dict[str, Any] = {"type": "object"}
        cyclic["not"] = cyclic
        with pytest.raises(InvalidJSONSchemaError, match=r"nested too deeply at \$\.not\.not"):
            parse_schema(cyclic)

    def test_nested_within_cap(self) -> None:
        """A schema nested below the depth cap is fine."""
        text = '{"not": ' * 30 + "{}" + "}" * 30
        assert parse_schema(text)["not"]["not"]

    @pytest.mark.parametrize(
        ("schema", "cause"),
        [
            ({1: "x"}, "non-string key"),
            ({"const": float("nan")}, "not JSON"),
            ({"enum": {1, 2}}, "set"),
            ('{"const": NaN}', "not valid JSON"),
        ],
    )
    def test_not_json_values(self, schema: Any, cause: str) -> None:
        """Values JSON cannot hold are refused, naming the cause."""
        with pytest.raises(InvalidJSONSchemaError, match=cause):
            parse_schema(schema)

    def test_errors_are_value_errors(self) -> None:
        """InvalidJSONSchemaError can be caught as the builtin ValueError."""
        with pytest.raises(ValueError, match="not valid JSON"):
            parse_schema("nope")


# --- instructions -------------------------------------------------------------------------------


class TestInstructions:
    def test_instructions_ask_for_bare_json(self) -> None:
        """The instructions ask for one JSON value, no prose, no code fences, and show the schema."""
        text = json_instructions(DEFAULT_SCHEMA)
        assert "only one JSON value" in text
        assert "no prose" in text
        assert "no code fences" in text
        lines = text.splitlines()
        opener, closer = lines.index(SCHEMA_OPEN_MARKER), lines.index(SCHEMA_CLOSE_MARKER)
        assert json.loads("\n".join(lines[opener + 1 : closer])) == DEFAULT_SCHEMA

    def test_apply_appends_to_the_prompt(self) -> None:
        """apply_json_mode keeps the prompt first and the instructions last."""
        prompt = apply_json_mode("What is 2+2?", DEFAULT_SCHEMA)
        assert prompt.startswith("What is 2+2?\n\n")
        assert prompt.endswith(SCHEMA_CLOSE_MARKER)

    def test_round_trip_default(self) -> None:
        """The default schema is recovered from the prompt."""
        assert schema_from_prompt(apply_json_mode("hi", DEFAULT_SCHEMA)) == DEFAULT_SCHEMA

    @pytest.mark.parametrize(
        "prompt",
        [
            "",
            SCHEMA_OPEN_MARKER,
            f"{SCHEMA_OPEN_MARKER}\n{{}}\n{SCHEMA_CLOSE_MARKER}",
            f"x\n{SCHEMA_OPEN_MARKER}\n",
            f"\n{SCHEMA_CLOSE_MARKER}\n{SCHEMA_OPEN_MARKER}\n[1]\n",
        ],
    )
    def test_round_trip_with_markers_in_the_prompt(self, prompt: str) -> None:
        """Marker text in the user's prompt does not hide the schema appended after it."""
        schema = {"description": f"{SCHEMA_CLOSE_MARKER}\n{SCHEMA_OPEN_MARKER}", "type": "object"}
        assert schema_from_prompt(apply_json_mode(prompt, schema)) == schema

    @pure_property
    @given(
        prompt=st.lists(
            st.sampled_from([SCHEMA_OPEN_MARKER, SCHEMA_CLOSE_MARKER, "\n", "{", "}"]) | st.text(),
            max_size=8,
        ).map("".join),
        description=st.lists(
            st.sampled_from([SCHEMA_OPEN_MARKER, SCHEMA_CLOSE_MARKER, "\n"]) | st.text(),
            max_size=6,
        ).map("".join),
        extra=st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    )
    def test_round_trip_property(
        self, prompt: str, description: str, extra: dict[str, Any]
    ) -> None:
        """schema_from_prompt(apply_json_mode(p, s)) == s for any prompt and schema text."""
        schema = {**extra, "description": description}
        assert schema_from_prompt(apply_json_mode(prompt, schema)) == schema

    @pytest.mark.parametrize(
        "prompt",
        [
            "plain prompt",
            f"x\n{SCHEMA_OPEN_MARKER}\n{{}}",
            f"x\n{SCHEMA_OPEN_MARKER}\nnot json\n{SCHEMA_CLOSE_MARKER}",
            f"x\n{SCHEMA_OPEN_MARKER}\n[1]\n{SCHEMA_CLOSE_MARKER}",
        ],
    )
    def test_no_schema(self, prompt: str) -> None:
        """Without a complete block holding a JSON object, there is no schema."""
        assert schema_from_prompt(prompt) is None


# --- extract_json: where the JSON is ------------------------------------------------------------


class TestExtractFinds:
    def test_whole_output(self) -> None:
        """Output that is exactly the JSON (with whitespace around) is returned."""
        assert extract_json(f"\n  {json.dumps(QA)}  \n", DEFAULT_SCHEMA) == QA

    def test_scalar_whole_output(self) -> None:
        """A bare scalar is found when the whole output is that scalar."""
        assert extract_json(" 42\n", {"type": "integer"}) == 42

    def test_json_fence(self) -> None:
        """A ```json fenced block is found."""
        text = f"Here you go:\n```json\n{dumps(QA, indent=2)}\n```\nAnything else?"
        assert extract_json(text, DEFAULT_SCHEMA) == QA

    def test_unlabelled_fence_with_scalar(self) -> None:
        """An unlabelled fence is tried too, even for a scalar."""
        assert extract_json('Result:\n```\n"ok"\n```', {"type": "string"}) == "ok"

    def test_other_language_fence_found_by_scan(self) -> None:
        """JSON in a fence labelled with another language is still found by the scan."""
        text = f"```python\nanswer = {json.dumps(QA)}\n```"
        assert extract_json(text, DEFAULT_SCHEMA) == QA

    def test_inline_code_is_not_a_fence(self) -> None:
        """Inline ```code``` on one line does not break pairing of the real fences."""
        text = f"Use ```x``` here.\n```json\n{json.dumps(QA)}\n```"
        assert extract_json(text, DEFAULT_SCHEMA) == QA

    def test_claude_wrapper(self) -> None:
        """claude's `--output-format json` result text is searched."""
        text = claude_wrapper(f"Sure!\n```json\n{json.dumps(QA)}\n```")
        assert extract_json(text, DEFAULT_SCHEMA) == QA

    def test_gemini_wrapper(self) -> None:
        """gemini's `{"response": ...}` text is searched."""
        text = json.dumps({"response": f"The JSON: {json.dumps(QA)}", "stats": {"models": {}}})
        assert extract_json(text, DEFAULT_SCHEMA) == QA

    def test_codex_item(self) -> None:
        """A codex `agent_message` item's text is searched."""
        text = json.dumps(
            {"type": "item.completed", "item": {"type": "agent_message", "text": json.dumps(QA)}}
        )
        assert extract_json(text, DEFAULT_SCHEMA) == QA

    def test_claude_stream_json_lines(self) -> None:
        """In JSON-lines output, the final result line's text is searched."""
        lines = [
            {"type": "system", "subtype": "init"},
            {"type": "assistant", "message": {"content": [{"type": "text", "text": "draft"}]}},
            {"type": "result", "result": json.dumps(QA)},
        ]
        text = "\n".join(json.dumps(line) for line in lines) + "\n"
        assert extract_json(text, DEFAULT_SCHEMA) == QA

    def test_wrapper_inside_wrapper(self) -> None:
        """A wrapper whose text is another CLI's wrapper is unwrapped again."""
        text = claude_wrapper(json.dumps({"response": f"ok: {json.dumps(QA)}"}))
        assert extract_json(text, DEFAULT_SCHEMA) == QA

    def test_wrapper_that_validates_is_returned(self) -> None:
        """The wrapper itself is returned when it is what the schema asks for."""
        schema = {"type": "object", "required": ["type", "result"]}
        text = claude_wrapper(json.dumps(QA))
        assert extract_json(text, schema) == json.loads(text)

    def test_braces_inside_strings(self) -> None:
        """Brackets, quotes and escapes inside JSON strings do not confuse the scan."""
        value = {"question": 'What does "}{" mean? ] [ \\', "answer": '{[}]"\\n\\'}
        text = f"Answer: {json.dumps(value)} -- end }}]"
        assert extract_json(text, DEFAULT_SCHEMA) == value

    def test_prose_braces_around(self) -> None:
        """Placeholders and unbalanced brackets in prose are skipped."""
        text = f"Fill {{name}} and [see above] then {{ oops [ {json.dumps(QA)} ] }} }} ]"
        assert extract_json(text, DEFAULT_SCHEMA) == QA

    def test_prose_quotes_outside_brackets(self) -> None:
        """Quotes in prose outside any bracket do not start a string."""
        text = f'He said "hi" and the 5" screen showed: {json.dumps(QA)} "'
        assert extract_json(text, DEFAULT_SCHEMA) == QA

    def test_first_valid_candidate_wins(self) -> None:
        """Of several candidates, the first that validates is returned."""
        first = {"question": "a", "answer": "1"}
        second = {"question": "b", "answer": "2"}
        text = f'{{"question": 1}} then {json.dumps(first)} and {json.dumps(second)}'
        assert extract_json(text, DEFAULT_SCHEMA) == first

    def test_outer_value_before_inner(self) -> None:
        """An enclosing value that validates wins over a value nested in it."""
        outer = {"question": "q", "answer": "a", "nested": {"question": "x", "answer": "y"}}
        assert extract_json(f"x {json.dumps(outer)}", {"type": "object"}) == outer

    def test_nested_value_found(self) -> None:
        """A matching value nested inside a non-matching one is found."""
        text = f'Result: {{"status": "ok", "data": {json.dumps(QA)}}}'
        assert extract_json(text, DEFAULT_SCHEMA) == QA

    def test_arrays(self) -> None:
        """Arrays are candidates too."""
        schema = {"type": "array", "items": {"type": "integer"}, "minItems": 1}
        assert extract_json("The numbers are [] and [1, 2, 3].", schema) == [1, 2, 3]

    def test_many_placeholders_do_not_use_the_budget(self) -> None:
        """Spans that cannot be JSON (`{name}`) do not count against the parse budget."""
        text = "{name} [see] " * 500 + json.dumps(QA)
        assert extract_json(text, DEFAULT_SCHEMA) == QA


# --- extract_json: properties -------------------------------------------------------------------


class TestExtractProperties:
    @pure_property
    @given(value=answers, before=prose, after=prose, ascii_only=st.booleans())
    def test_in_prose(
        self, value: dict[str, Any], before: str, after: str, ascii_only: bool
    ) -> None:
        """A matching object anywhere in prose is found exactly."""
        text = before + dumps(value, ascii_only=ascii_only) + after
        assert extract_json(text, DEFAULT_SCHEMA) == value

    @pure_property
    @given(value=answers, before=bracketed_prose, after=bracketed_prose)
    def test_between_other_brackets(self, value: dict[str, Any], before: str, after: str) -> None:
        """A matching object is found among unbalanced or balanced brackets in the prose."""
        text = f"{before}\n{dumps(value)}\n{after}"
        assert extract_json(text, DEFAULT_SCHEMA) == value

    @pure_property
    @given(value=answers, before=prose, after=prose, indent=st.sampled_from([None, 2]))
    def test_in_fence(
        self, value: dict[str, Any], before: str, after: str, indent: int | None
    ) -> None:
        """A matching object in a ```json fence is found exactly."""
        text = f"{before}\n```json\n{dumps(value, indent=indent)}\n```\n{after}"
        assert extract_json(text, DEFAULT_SCHEMA) == value

    @pure_property
    @given(value=answers, before=prose, after=prose)
    def test_in_claude_wrapper(self, value: dict[str, Any], before: str, after: str) -> None:
        """A matching object in the text of claude's JSON wrapper is found exactly."""
        text = claude_wrapper(before + dumps(value) + after)
        assert extract_json(text, DEFAULT_SCHEMA) == value

    @pure_property
    @given(first=answers, second=answers, middle=prose)
    def test_first_of_two(self, first: dict[str, Any], second: dict[str, Any], middle: str) -> None:
        """With two matching objects, the first one is returned."""
        text = dumps(first) + middle + " " + dumps(second)
        assert extract_json(text, DEFAULT_SCHEMA) == first

    @pure_property
    @given(value=answers, wrong=json_scalars.filter(lambda v: not isinstance(v, str)), text=prose)
    def test_mismatch_carries_the_candidate(
        self, value: dict[str, Any], wrong: Any, text: str
    ) -> None:
        """JSON that does not match raises a mismatch with the value and the raw output."""
        bad = {**value, "answer": wrong}
        output = text + dumps(bad)
        with pytest.raises(JSONSchemaMismatchError) as info:
            extract_json(output, DEFAULT_SCHEMA)
        assert info.value.candidate == bad
        assert info.value.raw_output == output
        assert "$.answer" in str(info.value)

    @pure_property
    @given(text=prose)
    def test_prose_alone_is_not_found(self, text: str) -> None:
        """Prose without brackets has no JSON object (unless it is itself a JSON scalar)."""
        assume(not is_json(text))
        with pytest.raises(JSONNotFoundError) as info:
            extract_json(text, DEFAULT_SCHEMA)
        assert info.value.raw_output == text

    @pure_property
    @given(text=st.text(max_size=200))
    def test_never_crashes(self, text: str) -> None:
        """Any text gives a value, a not-found error or a mismatch error."""
        errors: list[JSONNotFoundError | JSONSchemaMismatchError] = []
        try:
            extract_json(text, DEFAULT_SCHEMA)
        except (JSONNotFoundError, JSONSchemaMismatchError) as e:
            errors.append(e)
        assert all(error.raw_output == text for error in errors)


# --- extract_json: errors -----------------------------------------------------------------------


class TestExtractErrors:
    def test_not_found(self) -> None:
        """Prose without JSON raises JSONNotFoundError carrying the output."""
        text = "I cannot answer that."
        with pytest.raises(JSONNotFoundError) as info:
            extract_json(text, DEFAULT_SCHEMA)
        assert info.value.raw_output == text
        assert "no JSON value found" in str(info.value)
        assert "I cannot answer" in str(info.value)

    def test_empty_output(self) -> None:
        """Empty output says so."""
        with pytest.raises(JSONNotFoundError, match="empty"):
            extract_json("  \n", DEFAULT_SCHEMA)

    def test_wrapper_around_prose_is_not_found(self) -> None:
        """A CLI wrapper around a prose answer is JSON of the CLI, not an answer."""
        text = claude_wrapper("I cannot answer that.")
        with pytest.raises(JSONNotFoundError) as info:
            extract_json(text, DEFAULT_SCHEMA)
        assert info.value.raw_output == text

    def test_mismatch_message(self) -> None:
        """The mismatch message gives the error, its JSON path and what was expected."""
        text = 'Here: {"question": "q", "answer": 12}'
        with pytest.raises(JSONSchemaMismatchError) as info:
            extract_json(text, DEFAULT_SCHEMA)
        message = str(info.value)
        assert "$.answer" in message
        assert "12 is not of type 'string'" in message
        assert 'expects type: "string"' in message
        assert info.value.candidate == {"question": "q", "answer": 12}
        assert info.value.raw_output == text

    def test_mismatch_reports_first_value_not_wrapper(self) -> None:
        """Inside a CLI wrapper, the reported candidate is the answer's JSON, not the wrapper."""
        text = claude_wrapper('{"question": "q"}')
        with pytest.raises(
            JSONSchemaMismatchError, match="'answer' is a required property"
        ) as info:
            extract_json(text, DEFAULT_SCHEMA)
        assert info.value.candidate == {"question": "q"}

    def test_messages_point_the_library_user_at_the_attributes(self) -> None:
        """str(error) names the attributes a library caller has (raw_output, candidate); the
        message itself, which MCP clients also see, names neither (regression: it told MCP
        clients to check fields they never get). The first value found is quoted in it."""
        with pytest.raises(JSONNotFoundError) as not_found:
            extract_json("I cannot answer that.", DEFAULT_SCHEMA)
        with pytest.raises(JSONSchemaMismatchError) as mismatch:
            extract_json('Here: {"question": "q", "answer": 12}', DEFAULT_SCHEMA)
        assert str(not_found.value).endswith("(the output is in raw_output)")
        assert str(mismatch.value).endswith(
            "(the output is in raw_output, the first value found in candidate)"
        )
        for error in (not_found.value, mismatch.value):
            assert "raw_output" not in error.message and "candidate" not in error.message
        assert 'first value found: {"question": "q", "answer": 12}, at $.answer' in str(
            mismatch.value
        )

    def test_nan_is_not_json(self) -> None:
        """NaN and Infinity are not accepted as JSON numbers."""
        with pytest.raises(JSONNotFoundError):
            extract_json("NaN", {"type": "number"})

    def test_errors_are_value_errors(self) -> None:
        """Both extraction errors can be caught as ValueError."""
        with pytest.raises(ValueError, match="no JSON"):
            extract_json("nothing", DEFAULT_SCHEMA)
        with pytest.raises(ValueError, match="matches the schema"):
            extract_json("[1]", DEFAULT_SCHEMA)


# --- extract_json: adversarial input ------------------------------------------------------------

# Each of these finishes in well under a second (a single linear pass plus capped parsing).
ADVERSARIAL = {
    "unbalanced openers": "{" * 100_000,
    "unbalanced closers": "]}" * 50_000,
    "deep nesting": "[" * 50_000 + "]" * 50_000,
    "deep nesting, unclosed": '{"a": [' * 30_000,
    "many empty arrays": "[]" * 200_000,
    "nested pairs": "[" + "[[]]" * 50_000 + "]",
    "unterminated strings": '{"a": "' * 30_000,
    "escapes": '{"\\' * 50_000,
    "5 MB of prose": "All work and no play makes a dull model. " * 125_000,
    "5 MB in one object": "{" + "x" * 5_000_000 + "}",
    "fences": "```\n" * 50_000,
    "json lines": '{"type": "result"}\n' * 50_000,
}


class TestAdversarial:
    @pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
    def test_bounded(self, text: str) -> None:
        """Pathological output ends in a JSON error quickly instead of hanging or crashing."""
        with pytest.raises((JSONNotFoundError, JSONSchemaMismatchError)):
            extract_json(text, DEFAULT_SCHEMA)

    def test_answer_after_noise(self) -> None:
        """An answer after a long run of unbalanced brackets is still found."""
        text = "{" * 10_000 + "[" * 10_000 + json.dumps(QA)
        assert extract_json(text, DEFAULT_SCHEMA) == QA

    def test_answer_after_deep_nesting(self) -> None:
        """An answer after deeply nested (unparseable) arrays is still found."""
        text = "[" * 5_000 + "]" * 5_000 + " " + json.dumps(QA)
        assert extract_json(text, DEFAULT_SCHEMA) == QA

    def test_deep_value_against_recursive_schema(self) -> None:
        """Validating a deep value against a recursive schema cannot blow the stack."""
        schema = parse_schema({"type": "array", "items": {"$ref": "#"}, "minItems": 1})
        text = "[" * 900 + "]" * 900
        with pytest.raises((JSONNotFoundError, JSONSchemaMismatchError)):
            extract_json(text, schema)


def test_mapping_schema_accepted_by_extract() -> None:
    """extract_json takes any Mapping as the schema."""
    schema: Mapping[str, Any] = MappingProxyType({"type": "object", "required": ["answer"]})
    assert extract_json('{"answer": "x"}', schema) == {"answer": "x"}
