"""Fan-out: one prompt asked of several models at once, and optionally one combined answer.

`compare` checks every model (and the synthesizing one) before anything starts, then runs one
call per model as tasks of one nursery. Each call is an ordinary supervisor call under its own
cancel scope (its deadline, its model's concurrency limit, its retries), and a task turns the
call's failure into that model's result instead of raising, so one model failing or timing out
never stops the others. With ``synthesize_with`` that model then gets the successful answers,
anonymised (`_core.fanout.synthesis_prompt`), and writes one answer.

What it must never do: start a process itself (calls go through the `Supervisor`), let one
model's failure cancel another's call, or leave a call running when it returns or is cancelled
(every call is over, its process tree killed and reaped, before `compare` gives control back).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import trio
from attrs import frozen

from .._core.errors import LLMError
from .._core.fanout import (
    CompareResult,
    answer_text,
    check_compare_models,
    failed_result,
    no_answers_result,
    synthesis_prompt,
)
from .._core.request import build_request
from .._core.result import CallResult
from ..logs import get_logger
from .stream import CallStream

if TYPE_CHECKING:
    from . import Supervisor

__all__ = ["SYNTHESIS_LABEL", "Forward", "compare"]

_log = get_logger()

SYNTHESIS_LABEL = "synthesis"
"""The label `forward` gets for the synthesizing call (a model's own calls get its name)."""

Forward = Callable[[str, CallStream], Awaitable[None]]
"""Reads one call's stream while it runs: ``forward(label, stream)``, called in that call's task
with the model's name (or `SYNTHESIS_LABEL`); it should read ``stream.events()`` to the end."""


@frozen(kw_only=True)
class _Options:
    """What every call of one compare shares."""

    timeout: float | None
    json_mode: bool
    json_schema: str | Mapping[str, Any] | None


async def compare(
    supervisor: Supervisor,
    prompt: str,
    models: Sequence[str],
    *,
    timeout: float | None = None,  # noqa: ASYNC109 (each call's budget, as Supervisor.run's)
    json_mode: bool = False,
    json_schema: str | Mapping[str, Any] | None = None,
    synthesize_with: str | None = None,
    forward: Forward | None = None,
) -> CompareResult:
    """Ask every model in `models` the same prompt at once; see `Supervisor.compare`."""
    names = check_compare_models(models)
    options = _Options(timeout=timeout, json_mode=json_mode, json_schema=json_schema)
    synthesizer = () if synthesize_with is None else (synthesize_with,)
    _check_up_front(supervisor, prompt, [*names, *synthesizer], options)
    started = trio.current_time()
    _log.info(
        "llminst.compare.started",
        models=list(names),
        synthesize_with=synthesize_with,
        prompt_chars=len(prompt),
    )
    results = await _answers(supervisor, prompt, names, options, forward)
    synthesis: CallResult | None = None
    synthesized_from: tuple[str, ...] = ()
    if synthesize_with is not None:
        synthesis, synthesized_from = await _synthesis(
            supervisor, prompt, results, synthesize_with, options, forward
        )
    compared = CompareResult(
        results=results,
        synthesis=synthesis,
        synthesized_from=synthesized_from,
        duration_s=trio.current_time() - started,
    )
    _log.info(
        "llminst.compare.finished",
        answered=list(compared.answered),
        failed=list(compared.failed),
        synthesized=None if synthesis is None else synthesis.success,
        elapsed_s=round(compared.duration_s, 4),
    )
    return compared


def _check_up_front(
    supervisor: Supervisor, prompt: str, models: Sequence[str], options: _Options
) -> None:
    """Raise the first model's or option's error (unknown model, bad schema, bad timeout)
    before any call starts: a compare with a typo never runs half of its models."""
    known = supervisor.models
    for model in models:
        build_request(known, model=model, prompt=prompt, **attrs.asdict(options))


async def _answers(
    supervisor: Supervisor,
    prompt: str,
    names: Sequence[str],
    options: _Options,
    forward: Forward | None,
) -> tuple[CallResult, ...]:
    """Every model's result, in the order given; the calls run at once in one nursery."""
    results: dict[str, CallResult] = {}

    async def answer(model: str) -> None:
        results[model] = await _call(supervisor, model, model, prompt, options, forward)

    async with trio.open_nursery() as nursery:
        for model in names:
            nursery.start_soon(answer, model)
    return tuple(results[model] for model in names)


async def _synthesis(
    supervisor: Supervisor,
    prompt: str,
    results: Sequence[CallResult],
    model: str,
    options: _Options,
    forward: Forward | None,
) -> tuple[CallResult, tuple[str, ...]]:
    """The combined answer of `model` from the successful answers, and whose they were."""
    answered = [r for r in results if r.success]
    if not answered:
        return no_answers_result(model), ()
    combined = synthesis_prompt(prompt, [answer_text(r) for r in answered])
    result = await _call(supervisor, model, SYNTHESIS_LABEL, combined, options, forward)
    return result, tuple(r.model for r in answered)


async def _call(
    supervisor: Supervisor,
    model: str,
    label: str,
    prompt: str,
    options: _Options,
    forward: Forward | None,
) -> CallResult:
    """One model's call to its end: its result, also when it failed.

    Cancellation: as `Supervisor.run` and `open_stream`: the call's process tree is killed and
    reaped before the cancellation goes on.
    """
    try:
        if forward is None:  # nobody watches: the call runs in this task, no channel
            return await supervisor.run(model, prompt, cli_streaming=False, **attrs.asdict(options))
        async with supervisor.open_stream(
            model, prompt, cli_streaming=True, **attrs.asdict(options)
        ) as stream:
            await forward(label, stream)
            return await stream.wait()
    except LLMError as exc:
        return failed_result(model, exc)
