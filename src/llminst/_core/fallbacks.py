"""Fallbacks: the models a call may move on to, and when it does.

`with_fallbacks` resolves a request's chain once, before anything starts: the call's own
``fallbacks`` (or, when it gives none, its model's configured ones), each an evolved copy of the
request (same prompt, JSON schema, deadline and options) for another model; an unknown name is
refused up front. `falls_back` says whether a failure moves the call on: its kind is in the
primary model's ``fallback_on`` and a model is left. `PassedOver` is what the result's
``fallback_chain`` lists for each model that did not answer, and `note_passed_over` adds those
to the message of a call whose every model failed.

Pure: no trio, no process, no clock. It must never follow a fallback's own fallbacks (a chain
is one list, so it cannot loop).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
from attrs import frozen

from .errors import CallTimeoutError, InvalidInputError, LLMError, UnknownModelError
from .output import AttemptOutput
from .request import CallRequest, resolve_model
from .spec import ModelSpec

__all__ = [
    "MAX_FALLBACKS",
    "PassedOver",
    "falls_back",
    "note_passed_over",
    "share_timeout_error",
    "with_fallbacks",
]

MAX_FALLBACKS = 8
"""More models than this in one chain is a mistake, not a plan."""


@frozen(kw_only=True)
class PassedOver:
    """A model a call tried and moved on from.

    Attributes:
        model: the model name (``claude:opus``).
        error_kind: why (``rate_limited``, ``cli_not_found``, ...).
        error: the error's message.
        started: whether a process was started for it (False for a cooldown or a missing CLI).
    """

    model: str
    error_kind: str
    error: str
    started: bool

    def to_dict(self) -> dict[str, str | bool]:
        return attrs.asdict(self)


def with_fallbacks(
    models: Mapping[str, ModelSpec], request: CallRequest, fallbacks: Sequence[str] | None
) -> CallRequest:
    """`request` with its chain resolved: `fallbacks` if given (an empty list: none), else its
    model's configured ``fallbacks``; the primary and repeats are left out.

    Raises:
        InvalidInputError: `fallbacks` is not a list of strings, or too long.
        UnknownModelError: a fallback is not configured (naming the model it falls back from).
    """
    if fallbacks is not None and (
        isinstance(fallbacks, str) or not all(isinstance(name, str) for name in fallbacks)
    ):
        raise InvalidInputError(
            f"fallbacks must be a list of model names, e.g. ['gemini', 'codex'], got {fallbacks!r}"
        )
    names = list(request.spec.fallbacks if fallbacks is None else fallbacks)
    chain: list[CallRequest] = []
    seen = {request.model}
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        try:
            spec, submodel = resolve_model(models, name)
        except UnknownModelError as exc:
            exc.message = f"fallback of model {request.model!r}: {exc.message}"
            raise
        chain.append(attrs.evolve(request, model=name, spec=spec, submodel=submodel, fallbacks=()))
    if len(chain) > MAX_FALLBACKS:
        raise InvalidInputError(
            f"{len(chain)} fallbacks given; at most {MAX_FALLBACKS} are allowed: keep the models "
            "most likely to answer"
        )
    if not chain and not request.fallbacks:
        return request  # nothing to resolve (most calls): no copy of the request
    return attrs.evolve(request, fallbacks=tuple(chain))


def falls_back(primary: CallRequest, error: LLMError, *, models_left: int) -> bool:
    """Whether a call whose current model failed with `error` moves on to its next model."""
    return models_left > 0 and error.kind in primary.spec.fallback_on


def note_passed_over(error: LLMError, passed_over: Sequence[PassedOver]) -> LLMError:
    """`error` (of the chain's last model) with the models passed over before it named in its
    message; returns it."""
    if passed_over:
        tried = "; ".join(f"{step.model} ({step.error_kind})" for step in passed_over)
        error.message = f"{error.message}\nFallbacks: models tried before it: {tried}."
        error.args = (error.message,)
    return error


def share_timeout_error(
    request: CallRequest, output: AttemptOutput | None, share_s: float
) -> CallTimeoutError:
    """The error of a model that used up its share of the call's time (``timeout`` in
    ``fallback_on``: each model but the last gets an equal share of the time left)."""
    partial = len(output.text) if output is not None else 0
    return CallTimeoutError(
        f"model {request.model!r} did not answer within its share of the call's time "
        f"({share_s:.3g} s; {partial} characters of partial output): with 'timeout' in "
        "fallback_on, each model but the last gets an equal share of the time left",
        timeout_s=share_s,
    )
