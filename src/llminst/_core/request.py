"""One call's parameters, checked and resolved once: `CallRequest`, built by `build_request`.

Everything a call needs to know before a process starts is decided here, once per call: which
model spec runs it (``claude:sonnet`` -> the claude spec and ``sonnet``), the JSON schema
(parsed and checked), the timeout (explicit, or a category picked from the prompt), and the
prompt with JSON instructions appended (used unless the CLI takes the schema through its own
flag, which the supervisor learns once per call from the CLI's help).

Pure: no trio, no process, no file, no clock. What it must never do: start anything, or let an
invalid request through (each refusal is an `InvalidInputError` or `UnknownModelError` that
names the cause and the fix).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import frozen

from .errors import InvalidInputError, UnknownModelError
from .jsonmode import apply_json_mode
from .schemas import parse_schema
from .sessions import Continuation, Replay, transcript_prompt
from .spec import ModelSpec, split_model_name
from .timeouts import TimeoutChoice, resolve_timeout

__all__ = ["CallRequest", "build_request", "resolve_model"]


@frozen(kw_only=True)
class CallRequest:
    """What one call asks for, resolved.

    Attributes:
        model: the model name as the caller gave it (``claude:sonnet``).
        spec: the model's spec, as it was when the call was asked for.
        submodel: the part after ``:``, or None.
        prompt: the prompt as the caller gave it.
        timeout: the call's budget and the category it comes from.
        schema: the parsed JSON schema in JSON mode, else None.
        instructed_prompt: `prompt` with JSON instructions appended in JSON mode, else `prompt`.
        cli_streaming: pass the spec's ``stream_args`` so the CLI prints its answer as it comes.
        session: the llminst session the call belongs to, or None.
        continuation: how the CLI learns the session's earlier turns (`sessions`); None for
            a call outside a session or the first call of one.
    """

    model: str
    spec: ModelSpec
    submodel: str | None
    prompt: str
    timeout: TimeoutChoice
    schema: dict[str, Any] | None
    instructed_prompt: str
    cli_streaming: bool
    session: str | None = None
    continuation: Continuation | None = None

    @property
    def json_mode(self) -> bool:
        return self.schema is not None

    def cli_prompt(self, *, native_schema: bool) -> str:
        """The prompt the CLI gets: without instructions when it takes the schema by a flag,
        after the conversation so far when a session is replayed into the prompt."""
        prompt = self.prompt if native_schema else self.instructed_prompt
        replay = self.continuation
        if isinstance(replay, Replay) and not self.spec.history_args:
            return transcript_prompt(replay.turns, prompt)
        return prompt


def resolve_model(models: Mapping[str, ModelSpec], model: str) -> tuple[ModelSpec, str | None]:
    """``claude:sonnet`` -> (the claude spec, ``sonnet``); a configured name wins as a whole.

    Raises:
        UnknownModelError: neither the name nor its part before ``:`` is configured.
    """
    if model in models:
        return models[model], None
    base, submodel = split_model_name(model)
    if base not in models:
        raise UnknownModelError(model, list(models))
    return models[base], submodel


def build_request(
    models: Mapping[str, ModelSpec],
    *,
    model: str,
    prompt: str,
    timeout: float | None = None,
    json_mode: bool = False,
    json_schema: str | Mapping[str, Any] | None = None,
    cli_streaming: bool = False,
) -> CallRequest:
    """Check and resolve one call's parameters.

    Args:
        models: the configured models.
        model: a model name, optionally with a sub-model (``claude:sonnet``).
        prompt: the prompt, passed to the CLI byte for byte.
        timeout: seconds for the whole call; None picks a category from the prompt.
        json_mode: ask for JSON; implied by `json_schema`.
        json_schema: the schema (JSON text or a mapping); None in JSON mode: the default schema.
        cli_streaming: pass the spec's streaming flags to the CLI.

    Raises:
        InvalidInputError: the prompt is not a string, the schema or the timeout is invalid.
        UnknownModelError: the model is not configured.
    """
    if not isinstance(prompt, str):
        raise InvalidInputError(f"prompt must be a string, got {type(prompt).__name__}")
    spec, submodel = resolve_model(models, model)
    schema = parse_schema(json_schema) if json_mode or json_schema is not None else None
    choice = resolve_timeout(prompt, explicit=timeout, default=spec.timeout_category)
    return CallRequest(
        model=model,
        spec=spec,
        submodel=submodel,
        prompt=prompt,
        timeout=choice,
        schema=schema,
        instructed_prompt=prompt if schema is None else apply_json_mode(prompt, schema),
        cli_streaming=cli_streaming,
    )
