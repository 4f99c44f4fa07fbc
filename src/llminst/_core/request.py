"""One call's parameters, checked and resolved once: `CallRequest`, built by `build_request`.

Everything a call needs to know before a process starts is decided here, once per call: which
model spec runs it (``claude:sonnet`` -> the claude spec and ``sonnet``), the JSON schema
(parsed and checked), the timeout (explicit, or a category picked from the prompt), and the
prompt with JSON instructions appended (used unless the CLI takes the schema through its own
flag, which the supervisor learns once per call from the CLI's help), the system prompt (passed
by the CLI's own flag, `ModelSpec.system_prompt_args`, else prepended to the prompt by
`with_system_prompt`) and the working directory (resolved and checked by the caller, which
does the file system's part; see `roots`).

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

__all__ = [
    "SYSTEM_PROMPT_CLOSE",
    "SYSTEM_PROMPT_OPEN",
    "CallRequest",
    "build_request",
    "resolve_model",
    "with_system_prompt",
]

# How a system prompt is prepended for a CLI without a flag for one: marked off, so the model
# reads it as instructions rather than as part of the question (and so the prompt the CLI gets
# never starts with "-").
SYSTEM_PROMPT_OPEN = "<system>\n"
SYSTEM_PROMPT_CLOSE = "\n</system>\n\n"


def with_system_prompt(prompt: str, system_prompt: str | None) -> str:
    """`prompt` with `system_prompt` prepended between ``<system>`` tags (None: `prompt`)."""
    if system_prompt is None:
        return prompt
    return f"{SYSTEM_PROMPT_OPEN}{system_prompt}{SYSTEM_PROMPT_CLOSE}{prompt}"


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
        system_prompt: the call's system prompt, or None.
        cwd: the directory the CLI runs in (a real path the caller checked), else None: the
            spec's ``cwd``, or the server's.
        fallbacks: the requests for the models to try next, in order (`fallbacks.with_fallbacks`).
        session: the llminst session the call belongs to, or None.
        continuation: how the CLI learns the session's earlier turns (`sessions`); None for
            a call outside a session or the first call of one.
        cache_ttl_s: keep a successful answer this long and answer the same call from it
            (`cache`); None: not cached.
    """

    model: str
    spec: ModelSpec
    submodel: str | None
    prompt: str
    timeout: TimeoutChoice
    schema: dict[str, Any] | None
    instructed_prompt: str
    cli_streaming: bool
    system_prompt: str | None = None
    cwd: str | None = None
    fallbacks: tuple[CallRequest, ...] = ()
    session: str | None = None
    continuation: Continuation | None = None
    cache_ttl_s: float | None = None

    @property
    def json_mode(self) -> bool:
        return self.schema is not None

    @property
    def native_system_prompt(self) -> bool:
        """The system prompt goes through the CLI's own flag (`system_prompt_args`)."""
        return self.system_prompt is not None and bool(self.spec.system_prompt_args)

    def cli_prompt(self, *, native_schema: bool) -> str:
        """The prompt the CLI gets: without instructions when it takes the schema by a flag,
        after the conversation so far when a session is replayed into the prompt, and after
        the system prompt when the CLI has no flag for one."""
        prompt = self.prompt if native_schema else self.instructed_prompt
        replay = self.continuation
        if isinstance(replay, Replay) and not self.spec.history_args:
            prompt = transcript_prompt(replay.turns, prompt)
        if self.native_system_prompt:
            return prompt
        return with_system_prompt(prompt, self.system_prompt)


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
    system_prompt: str | None = None,
    cwd: str | None = None,
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
        system_prompt: instructions for the model; ``""`` is the same as None (none).
        cwd: where the CLI runs: a real path to an existing directory, which the caller
            checked (this module reads no file system); None: the spec's ``cwd``.

    Raises:
        InvalidInputError: the prompt, the system prompt or the directory is not a string (or
            the system prompt holds a NUL), the schema or the timeout is invalid.
        UnknownModelError: the model is not configured.
    """
    if not isinstance(prompt, str):
        raise InvalidInputError(f"prompt must be a string, got {type(prompt).__name__}")
    _check_system_prompt(system_prompt)
    if cwd is not None and not isinstance(cwd, str):
        raise InvalidInputError(f"cwd must be a string (a directory), got {type(cwd).__name__}")
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
        system_prompt=system_prompt or None,
        cwd=cwd,
    )


def _check_system_prompt(system_prompt: object) -> None:
    if system_prompt is None:
        return
    if not isinstance(system_prompt, str):
        raise InvalidInputError(
            f"system_prompt must be a string, got {type(system_prompt).__name__}"
        )
    if "\x00" in system_prompt:
        raise InvalidInputError(
            "system_prompt contains a NUL character, which no process argument or CLI can "
            "carry; remove it"
        )
    try:
        system_prompt.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"system_prompt is not valid Unicode text (a lone surrogate, "
            f"U+{ord(system_prompt[exc.start]):04X}, at position {exc.start}); send valid "
            "UTF-8 text"
        ) from None
