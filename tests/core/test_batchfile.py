"""`parse_batch`: a JSONL batch file becomes items in order, and every bad line is refused
before anything runs, by its line number, with the fix."""

from __future__ import annotations

import json

import pytest

from llminst._core.batchfile import ItemResult, parse_batch, progress_of
from llminst._core.errors import InvalidInputError


def test_items_keep_file_order_ids_default_to_line_numbers_and_blank_lines_are_skipped() -> None:
    text = (
        '{"prompt": "one", "model": "claude"}\n'
        "\n"
        '{"prompt": "two", "id": "b", "session": "s1"}\n'
        '{"prompt": "three", "id": 7, "json_schema": {"type": "object"}}\n'
    )
    items = parse_batch(text, default_model="echo")
    assert [(i.item_id, i.prompt, i.model) for i in items] == [
        ("1", "one", "claude"),
        ("b", "two", "echo"),
        ("7", "three", "echo"),
    ]
    assert items[1].session == "s1"
    assert json.loads(items[2].json_schema or "") == {"type": "object"}


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("not json", "line 2: not valid JSON"),
        ("[1, 2]", "line 2: expected a JSON object, got list"),
        ('{"model": "echo"}', 'line 2: "prompt" must be a non-empty string'),
        ('{"prompt": ""}', 'line 2: "prompt" must be a non-empty string'),
        ('{"prompt": "x", "temperature": 1}', "line 2: unknown key 'temperature'"),
        ('{"prompt": "x", "id": "a"}', "line 2: id 'a' was already used on line 1"),
        ('{"prompt": "x", "id": true}', 'line 2: "id" must be a string or an integer'),
        ('{"prompt": "x", "model": 3}', 'line 2: "model" must be a non-empty string'),
        ('{"prompt": "x", "json_schema": "{nope"}', '"json_schema" is a string but not JSON'),
        ('{"prompt": "x", "json_schema": [1]}', '"json_schema" must be a JSON Schema object'),
        ('{"prompt": "x", "session": "no spaces"}', 'line 2: "session": session name'),
    ],
)
def test_a_bad_line_is_named_by_its_number(line: str, says: str) -> None:
    text = '{"prompt": "fine", "id": "a"}\n' + line + "\n"
    with pytest.raises(InvalidInputError) as caught:
        parse_batch(text, default_model="echo")
    assert says in str(caught.value)
    assert caught.value.kind == "invalid_input"


def test_an_item_without_a_model_needs_a_default() -> None:
    with pytest.raises(InvalidInputError, match=r'line 1: no "model".*--model'):
        parse_batch('{"prompt": "x"}\n')


def test_an_empty_file_is_refused_with_an_example_line() -> None:
    with pytest.raises(InvalidInputError, match=r"no items.*one JSON object per line"):
        parse_batch("\n  \n", default_model="echo")


def test_results_round_trip_and_progress_counts_states() -> None:
    result = ItemResult(item_id="a", model="echo", state="failed", error="timeout: slow")
    assert ItemResult.from_json(result.to_json()) == result
    progress = progress_of("b1", 5, ["succeeded", "failed", "running", "succeeded"], runs=6)
    assert (progress.done, progress.pending, progress.finished) == (3, 1, False)
    assert progress.line() == "b1 3/5 done (2 succeeded, 1 failed), 1 running, 1 pending"
