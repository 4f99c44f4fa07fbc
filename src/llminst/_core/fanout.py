"""Fan-out, the pure part: which models one compare may ask, the anonymised synthesis prompt, and
`CompareResult`, what a compare returns.

The supervisor's `fanout` runs the calls; this module only decides and describes. It must stay
free of I/O, trio and clocks, and must never put a model's name into what the synthesizing
model reads (its answers are "Answer 1", "Answer 2", ... in the order the models were given).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from attrs import frozen

from .errors import InvalidInputError, LLMError
from .result import CallResult

__all__ = [
    "MAX_COMPARE_MODELS",
    "NO_ANSWERS_KIND",
    "CompareResult",
    "answer_text",
    "check_compare_models",
    "failed_result",
    "no_answers_result",
    "synthesis_prompt",
]

# Eight at once: every call is a whole CLI process (a claude call peaks at 200-320 MB and burns
# ~0.8 s of CPU), answers side by side stop being readable past that, and eight full answers
# already approach what a client accepts in one tool result (Claude Code: 25,000 tokens).
MAX_COMPARE_MODELS = 8

NO_ANSWERS_KIND = "no_answers"
"""The synthesis's `error_kind` when no model answered, so there was nothing to combine."""

_SYNTHESIS_INSTRUCTIONS = (
    "Below is a request, then {count} to it, written independently. Write one "
    "combined answer to the request: keep what the answers agree on, settle or point out "
    "where they disagree, and add nothing that none of them supports. Answer the request "
    "directly; do not mention that there were several answers."
)


def check_compare_models(models: object) -> tuple[str, ...]:
    """The models of one compare: 1 to `MAX_COMPARE_MODELS` distinct names, in the order given.

    Raises:
        InvalidInputError: not a list of strings, empty, too many, or a name given twice.
    """
    if not isinstance(models, list | tuple) or not all(isinstance(m, str) for m in models):
        raise InvalidInputError(
            "models: expected a list of model names, e.g. ['claude', 'gemini', 'codex']"
        )
    if not models:
        raise InvalidInputError("models: expected at least one model name, got none")
    if len(models) > MAX_COMPARE_MODELS:
        raise InvalidInputError(
            f"models: at most {MAX_COMPARE_MODELS} models per compare, got {len(models)}; "
            "split them over several compares"
        )
    repeated = sorted({m for m in models if models.count(m) > 1})
    if repeated:
        raise InvalidInputError(
            f"models: each model may be named once, got {', '.join(map(repr, repeated))} "
            "more than once; to compare sub-models name them apart (claude:sonnet, claude:opus)"
        )
    return tuple(models)


def answer_text(result: CallResult) -> str:
    """What a successful call answered: the validated JSON value in JSON mode, else the text."""
    if result.parsed_json is not None:
        return json.dumps(result.parsed_json, ensure_ascii=False, indent=2)
    return result.output


def synthesis_prompt(prompt: str, answers: Sequence[str]) -> str:
    """The prompt the synthesizing model gets: the request and the answers, by number only."""
    count = "one answer" if len(answers) == 1 else f"{len(answers)} answers"
    parts = [_SYNTHESIS_INSTRUCTIONS.format(count=count), "", "--- Request ---", prompt]
    for number, answer in enumerate(answers, start=1):
        parts += ["", f"--- Answer {number} ---", answer.rstrip("\n")]
    return "\n".join(parts) + "\n"


def failed_result(model: str, error: LLMError) -> CallResult:
    """The result of a call that failed: what it collected, or an empty one if nothing ran."""
    if error.result is not None:
        return error.result
    return _empty_failure(model, error.message, error.kind)


def no_answers_result(model: str) -> CallResult:
    """The synthesis's result when no model answered: it was not run."""
    return _empty_failure(
        model, "no model answered, so there was nothing to synthesize", NO_ANSWERS_KIND
    )


def _empty_failure(model: str, message: str, kind: str) -> CallResult:
    return CallResult(
        model=model,
        output="",
        success=False,
        exit_code=None,
        attempts=0,
        duration_s=0.0,
        timeout_s=0.0,
        timeout_category="",
        error=message,
        error_kind=kind,
    )


@frozen(kw_only=True)
class CompareResult:
    """One prompt asked of several models at once.

    Attributes:
        results: one `CallResult` per model, in the order the models were given: the answer,
            or the error (`error_kind`, `error`) with the output collected before it; each with
            its own duration, usage and cost.
        synthesis: the synthesizing model's combined answer (None when none was asked for);
            when no model answered it was not run and its `error_kind` is ``no_answers``.
        synthesized_from: the models behind "Answer 1", "Answer 2", ... in the synthesis prompt.
        duration_s: wall time of the whole compare, synthesis included.
    """

    results: tuple[CallResult, ...]
    synthesis: CallResult | None = None
    synthesized_from: tuple[str, ...] = ()
    duration_s: float = 0.0

    @property
    def answered(self) -> tuple[str, ...]:
        """The models that answered, in the order given."""
        return tuple(r.model for r in self.results if r.success)

    @property
    def failed(self) -> tuple[str, ...]:
        """The models that failed, in the order given."""
        return tuple(r.model for r in self.results if not r.success)

    @property
    def complete(self) -> bool:
        """Every model answered, and so did the synthesis if one was asked for."""
        synthesized = self.synthesis is None or self.synthesis.success
        return not self.failed and synthesized

    def to_dict(self) -> dict[str, Any]:
        return {
            "results": [r.to_dict() for r in self.results],
            "synthesis": None if self.synthesis is None else self.synthesis.to_dict(),
            "synthesized_from": list(self.synthesized_from),
            "answered": list(self.answered),
            "failed": list(self.failed),
            "duration_s": self.duration_s,
        }
