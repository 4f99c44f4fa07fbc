"""The response cache's decisions: which calls may be cached, for how long, and under which key.

A call is cached only when it asks (``cache=True``) or its model has ``cache_ttl_s``, and never
when it belongs to a session (a conversation's next answer depends on turns the key cannot see).
`cache_key` is the sha256 of a canonical JSON of everything that changes the answer: the model
and sub-model, the resolved command without the prompt (`command.command_line`, with the
spec's environment and directory), the call's directory, the prompt, the system prompt and the
JSON schema (or none). `CachedAnswer` is what the store keeps under a key: the result of the
call that made it, with its output.

Pure: no trio, no store, no clock (times are passed in). What it must never do: key on
something that does not change the answer (the deadline, streaming), or leave out something
that does.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from attrs import frozen

from .command import command_line
from .errors import InvalidInputError
from .request import CallRequest
from .spec import ModelSpec

__all__ = ["DEFAULT_CACHE_TTL_S", "CachedAnswer", "cache_key", "cache_ttl"]

DEFAULT_CACHE_TTL_S = 24 * 3600.0
"""How long an answer is kept when a call asks for caching and its model names no ttl."""


@frozen(kw_only=True)
class CachedAnswer:
    """One cached answer.

    Attributes:
        key: its `cache_key`.
        call_id: the id of the call that produced it.
        result: that call's `CallResult.to_dict()` (with its ``output``).
        created_at / expires_at: Unix seconds.
    """

    key: str
    call_id: str
    result: dict[str, Any]
    created_at: float
    expires_at: float

    def fresh(self, now: float) -> bool:
        return now < self.expires_at


def cache_ttl(spec: ModelSpec, asked: object, *, session: str | None) -> float | None:
    """How long the answer of a call of `spec` is kept: None when it is not cached at all.

    Args:
        asked: the call's ``cache`` (None: as its model says, ``cache_ttl_s``; True: the
            model's ttl, else `DEFAULT_CACHE_TTL_S`; False: never).
        session: the call's session (a session's calls are never cached).

    Raises:
        InvalidInputError: ``cache=True`` on a call of a session.
    """
    if asked is not None and not isinstance(asked, bool):
        raise InvalidInputError(f"cache must be true or false, got {type(asked).__name__}")
    if asked is False:
        return None
    if session is not None:
        if asked:
            raise InvalidInputError(
                "cache=true cannot be used with a session: a session's next answer depends on "
                "its earlier turns; drop cache or the session"
            )
        return None
    ttl = spec.cache_ttl_s
    if asked:
        return ttl or DEFAULT_CACHE_TTL_S
    return ttl or None


def cache_key(request: CallRequest) -> str:
    """The key of `request`'s answer: a sha256 hex digest of what changes it."""
    spec = request.spec
    try:
        command = command_line(spec, submodel=request.submodel)
    except InvalidInputError:
        command = " ".join(spec.command)  # the call itself refuses the sub-model later
    parts = {
        "model": request.model,
        "submodel": request.submodel,
        "command": command,
        "env": dict(sorted(spec.env.items())),
        "cwd": request.cwd or spec.cwd,
        "prompt": request.prompt,
        "system_prompt": request.system_prompt,
        "json_schema": request.schema,
    }
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
