"""One call's keyword arguments, documented once: `CallOptions`, and the request built from them.

`Supervisor.run`, `open_stream` and `start` take the same keyword arguments; each gathers them
into a `CallOptions` and `request_for` turns that into the call's `CallRequest` (the directory
checked against the supervisor's roots, fallbacks and the cache's time to live applied). What it
must never do: start anything, or let an invalid call through (each refusal is an `LLMError`
raised before the call exists).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from attrs import frozen

from .._core.cache import cache_ttl
from .._core.fallbacks import with_fallbacks
from .._core.request import CallRequest, build_request
from .._core.spec import ModelSpec
from .workdir import resolve_call_directory

__all__ = ["CallOptions", "path_text", "request_for"]


@frozen(kw_only=True)
class CallOptions:
    """The keyword arguments of `Supervisor.run` (and `open_stream`, `start`)."""

    timeout: float | None = None
    """Seconds for the whole call; None picks a category from the prompt. Unlike a bare trio
    timeout, this is the call's budget: it picks the category, is reported in the result, and
    ends in CallTimeoutError with the partial output."""
    json_mode: bool = False
    """Ask for JSON, extract and validate it into ``parsed_json``."""
    json_schema: str | Mapping[str, Any] | None = None
    """The schema (JSON text or a mapping); None uses the default schema."""
    cli_streaming: bool = False
    """Pass the model's streaming flags (``stream_args``) to the CLI. The text is returned whole
    either way, so a call that nobody watches needs none (`open_stream`: True by default)."""
    system_prompt: str | None = None
    """Instructions for the model: passed by the CLI's own flag where the model has one
    (``system_prompt_args``), else prepended to the prompt."""
    cwd: str | os.PathLike[str] | None = None
    """The directory the CLI runs in (it must exist, and lie under the supervisor's
    `allowed_roots` when it has them; symlinks are resolved first); None: the model's ``cwd``,
    else this process's."""
    fallbacks: Sequence[str] | None = None
    """Models to try in order when the model fails in a way its ``fallback_on`` names (by
    default rate_limited -- also during a cooldown --, credentials_missing, cli_not_found,
    api_unreachable), within the same deadline; None: the model's configured ``fallbacks``;
    ``[]``: none. The result's ``model`` names the model that answered and ``fallback_chain``
    those passed over."""
    session: str | None = None
    """A session name (1 to 200 of ``A-Za-z0-9._:-``): the first call opens it, later calls
    continue the conversation (the CLI's own resume where it has one, else the transcript so
    far), one call of a session at a time. A failed call adds nothing to it."""
    cache: bool | None = None
    """True: answer from the response cache when the same call (model and sub-model, command,
    directory, prompt, system prompt, JSON schema) succeeded before, without a process
    (``cached: true`` and ``cached_call_id`` in the result), else run it and keep its answer
    for the model's ``cache_ttl_s`` (else a day); None: as the model's ``cache_ttl_s`` says;
    False: never. A session's calls are never cached (True with a `session` is invalid_input)."""


def request_for(
    models: Mapping[str, ModelSpec],
    model: str,
    prompt: str,
    options: CallOptions,
    *,
    allowed_roots: Sequence[str] | None,
) -> CallRequest:
    """The `CallRequest` of a call of `model` with `prompt` and `options`.

    Raises:
        InvalidInputError, UnknownModelError: the call is invalid (nothing has started).
    """
    cwd = options.cwd
    real_cwd = None if cwd is None else resolve_call_directory(path_text(cwd), roots=allowed_roots)
    request = build_request(
        models,
        model=model,
        prompt=prompt,
        timeout=options.timeout,
        json_mode=options.json_mode,
        json_schema=options.json_schema,
        cli_streaming=options.cli_streaming,
        system_prompt=options.system_prompt,
        cwd=real_cwd,
    )
    request = with_fallbacks(models, request, options.fallbacks)
    ttl_s = cache_ttl(request.spec, options.cache, session=options.session)
    if ttl_s is not None:
        request = attrs.evolve(request, cache_ttl_s=ttl_s)
    return request


def path_text(path: object) -> object:
    """A path object as its text; anything else as it is, for `resolve_call_directory` to
    refuse by its type."""
    return os.fspath(path) if isinstance(path, os.PathLike) else path
