"""The JSON extractor on adversarial output: bounded time, and the answer when a budget allows.

(Moved from the MCP fuzz tests: it is pure and needs no server.)
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from llminst._core.errors import LLMError
from llminst._core.jsonmode import extract_json


def _timed_extract(text: str, schema: dict[str, Any]) -> tuple[Any, float]:
    # CPU time of this process, not wall time: the bound is on the work done, which other
    # load on a shared machine cannot stretch.
    start = time.process_time()
    try:
        value: Any = extract_json(text, schema)
    except LLMError as exc:
        value = exc
    return value, time.process_time() - start


OBJECT = {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "string"}}}
ADVERSARIAL_OUTPUTS = {
    "unbalanced-openers": ("{" * 20_000 + '{"answer": "yes"}', {"answer": "yes"}),
    "unbalanced-closers": ('{"answer": "yes"}' + "}" * 20_000, {"answer": "yes"}),
    "mixed-unbalanced": ("{[" * 10_000 + '{"answer": "yes"}' + "]}" * 3, {"answer": "yes"}),
    "deep-arrays-then-object": (
        "[" * 50_000 + "]" * 50_000 + '{"answer": "yes"}',
        {"answer": "yes"},
    ),
    "object-inside-deep-arrays": (
        "[" * 50_000 + '{"answer": "yes"}' + "]" * 50_000,
        {"answer": "yes"},
    ),
    "noise-then-object": (
        "".join(random.Random(5).choices('{}[]":, abc\\\n', k=5_000_000)) + '\n{"answer": "yes"}',
        {"answer": "yes"},
    ),
    "many-small-spans": ('{"a": 1} ' * 200_000 + '{"answer": "yes"}', None),
    "unterminated-string": ('{"answer": "' + "x" * 5_000_000, None),
    "many-fences": ("```json\n{\n```\n" * 100_000 + '```json\n{"answer": "yes"}\n```', None),
}


@pytest.mark.parametrize("name", list(ADVERSARIAL_OUTPUTS))
def test_adversarial_output_is_extracted_in_bounded_time(name: str) -> None:
    """Unbalanced brackets, 50k-deep arrays and megabytes of noise: fast, and correct when a
    budget allows (None: only a bounded answer is required, found or a clear error)."""
    text, expected = ADVERSARIAL_OUTPUTS[name]
    value, elapsed = _timed_extract(text, OBJECT)
    assert elapsed < 2.0, f"{name}: {elapsed:.2f} s"
    if expected is not None:
        assert value == expected, (name, repr(value)[:300])
    else:
        assert value == {"answer": "yes"} or isinstance(value, LLMError), repr(value)[:300]
