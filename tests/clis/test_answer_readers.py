"""Each CLI format's answer reader (what JSON mode looks inside) against its decoder, on real output.

JSON mode finds an answer wrapped in a CLI's own JSON (claude's ``result`` line, gemini's
``-o json`` object, a codex agent message) with the readers in `llminst._core.decoders`, the same
modules that decode the stream. These tests hold the two together on the recorded output in
tests/fixtures/: for every success the reader finds exactly the answer the decoder reports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llminst._core.decoders import (
    ANSWER_READERS,
    ClaudeStreamJsonDecoder,
    CodexJsonlDecoder,
    Decoder,
    GeminiStreamJsonDecoder,
    answer_in_wrapper,
)
from llminst._core.decoders.claude import claude_assistant_text, claude_result_text
from llminst._core.decoders.codex import codex_message_text
from llminst._core.decoders.gemini import gemini_response_text
from llminst._core.events import FinalResult
from llminst._core.jsonmode import extract_json
from llminst._core.schemas import parse_schema

from ..support.paths import FIXTURES


def records(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def final_text(decoder: Decoder, path: Path) -> str | None:
    events = decoder.feed(path.read_bytes()) + decoder.close()
    (final,) = [e for e in events if isinstance(e, FinalResult)]
    assert not final.is_error, final
    return final.text


@pytest.mark.parametrize("name", ["plain", "stream", "json_native"])
def test_claude_result_reader_finds_what_the_decoder_reports(name: str) -> None:
    """The last ``result`` line of a successful claude run holds the decoder's answer."""
    path = FIXTURES / "claude" / f"{name}.jsonl"
    answers = [claude_result_text(record) for record in records(path)]
    found = [answer for answer in answers if answer is not None]
    decoded = final_text(ClaudeStreamJsonDecoder(), path)
    assert found and found[-1] == decoded
    assert answer_in_wrapper(records(path)[-1]) == decoded


@pytest.mark.parametrize("name", ["plain", "stream"])
def test_claude_assistant_reader_finds_the_streamed_text(name: str) -> None:
    """The ``assistant`` message holds the same text the decoder gives as the answer."""
    path = FIXTURES / "claude" / f"{name}.jsonl"
    texts = [claude_assistant_text(record) for record in records(path)]
    assert "".join(text for text in texts if text) == final_text(ClaudeStreamJsonDecoder(), path)


@pytest.mark.parametrize("name", ["plain", "json_mode"])
def test_codex_message_reader_finds_what_the_decoder_reports(name: str) -> None:
    """The last agent message of a codex run is the decoder's answer; other items are not."""
    path = FIXTURES / "codex" / f"{name}.stdout"
    found = [text for text in map(codex_message_text, records(path)) if text is not None]
    assert found == [final_text(CodexJsonlDecoder(), path)]


def test_gemini_response_reader_reads_the_json_output() -> None:
    """``gemini -o json`` prints one object; its ``response`` is the answer the stream gives too."""
    whole = json.loads((FIXTURES / "gemini" / "output_json.stdout").read_text(encoding="utf-8"))
    assert gemini_response_text(whole) == "fake-gemini says: Say hello"
    assert answer_in_wrapper(whole) == "fake-gemini says: Say hello"
    streamed = final_text(GeminiStreamJsonDecoder(), FIXTURES / "gemini" / "plain.stdout")
    assert streamed is not None and streamed.startswith("fake-gemini says: ")


def test_each_reader_refuses_the_other_formats_objects() -> None:
    """A reader answers only for its own CLI's object: the others and plain JSON get None."""
    objects = {
        claude_result_text: {"type": "result", "result": "a"},
        gemini_response_text: {"session_id": "s", "response": "b"},
        codex_message_text: {
            "type": "item.completed",
            "item": {"type": "agent_message", "text": "c"},
        },
        claude_assistant_text: {
            "type": "assistant",
            "message": {"content": [{"type": "text", "text": "d"}]},
        },
    }
    assert set(objects) == set(ANSWER_READERS)
    plain = {"question": "q", "answer": "a"}
    for reader in ANSWER_READERS:
        assert reader(plain) is None
        for owner, obj in objects.items():
            assert (reader(obj) is not None) == (reader is owner), (reader.__name__, obj)


def test_json_mode_finds_the_answer_inside_codex_output() -> None:
    """extract_json reads the answer out of a codex run's JSON lines through codex's reader."""
    text = (FIXTURES / "codex" / "json_mode.stdout").read_text(encoding="utf-8")
    assert extract_json(text, parse_schema(None)) == {
        "question": "question: What is 2+2?",
        "answer": "answer: What is 2+2?",
    }
