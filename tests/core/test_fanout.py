"""Fan-out's pure rules: which model lists a compare takes, the anonymised synthesis prompt, and
what a `CompareResult` says about itself."""

from __future__ import annotations

import pytest

from llminst import CallResult, InvalidInputError
from llminst._core.errors import CLINotFoundError, LLMError
from llminst._core.fanout import (
    MAX_COMPARE_MODELS,
    CompareResult,
    check_compare_models,
    failed_result,
    no_answers_result,
    synthesis_prompt,
)


def _result(
    model: str, *, output: str = "", ok: bool = True, kind: str | None = None
) -> CallResult:
    return CallResult(
        model=model,
        output=output,
        success=ok,
        exit_code=0 if ok else 1,
        attempts=1,
        duration_s=0.5,
        timeout_s=60.0,
        timeout_category="normal",
        error=None if ok else "it failed",
        error_kind=kind,
    )


def test_models_keep_their_order() -> None:
    """A valid list comes back as given: the results follow this order."""
    assert check_compare_models(["gemini", "claude:opus", "claude"]) == (
        "gemini",
        "claude:opus",
        "claude",
    )


@pytest.mark.parametrize(
    ("models", "words"),
    [
        ([], ["at least one model"]),
        ([f"m{i}" for i in range(MAX_COMPARE_MODELS + 1)], ["at most 8", "got 9", "split"]),
        (["claude", "gemini", "claude"], ["'claude' more than once", "claude:sonnet"]),
        ("claude", ["a list of model names"]),
        (["claude", 5], ["a list of model names"]),
    ],
)
def test_bad_model_lists_are_refused_with_the_fix(models: object, words: list[str]) -> None:
    """Empty, too long, repeated or not a list of names: invalid_input naming the fix."""
    with pytest.raises(InvalidInputError) as caught:
        check_compare_models(models)
    assert str(caught.value).startswith("models: ")
    for word in words:
        assert word in str(caught.value)


def test_synthesis_prompt_numbers_the_answers_and_names_no_model() -> None:
    """The synthesizer reads the request and "Answer 1", "Answer 2", never who wrote them."""
    prompt = synthesis_prompt("Is tea better than coffee?", ["Tea.\n", "Coffee, clearly."])
    assert "2 answers" in prompt
    assert "--- Request ---\nIs tea better than coffee?\n" in prompt
    assert "--- Answer 1 ---\nTea.\n\n--- Answer 2 ---\nCoffee, clearly.\n" in prompt
    assert prompt.endswith("Coffee, clearly.\n")
    assert "one answer" in synthesis_prompt("q", ["a"])


def test_a_failed_call_keeps_what_it_collected() -> None:
    """A failure's own result (partial output, stderr) is kept; an error before any process
    gets an empty result with the kind and message."""
    partial = _result("gemini", output="half an answ", ok=False, kind="timeout")
    assert failed_result("gemini", LLMError("x", result=partial)) is partial
    empty = failed_result("codex", CLINotFoundError("codex", "codex"))
    assert (empty.model, empty.success, empty.attempts) == ("codex", False, 0)
    assert empty.error_kind == "cli_not_found" and "'codex' not found" in (empty.error or "")
    skipped = no_answers_result("claude")
    assert skipped.error_kind == "no_answers" and "nothing to synthesize" in (skipped.error or "")


def test_compare_result_says_who_answered() -> None:
    """answered/failed follow the given order; complete needs every answer and the synthesis."""
    results = (_result("a", output="x"), _result("b", ok=False, kind="timeout"), _result("c"))
    partial = CompareResult(results=results, duration_s=1.5)
    assert partial.answered == ("a", "c") and partial.failed == ("b",)
    assert not partial.complete
    whole = CompareResult(results=(results[0],), synthesis=_result("s", output="both"))
    assert whole.complete
    unsynthesized = CompareResult(results=(results[0],), synthesis=no_answers_result("s"))
    assert not unsynthesized.complete
    data = partial.to_dict()
    assert [r["model"] for r in data["results"]] == ["a", "b", "c"]
    assert data["answered"] == ["a", "c"] and data["failed"] == ["b"]
    assert data["synthesis"] is None and data["duration_s"] == 1.5
