"""Who a request comes from, as far as which calls it may see: the owner of the calls it starts.

Over HTTP with tokens, the transport's bearer check (`transports.asgi.require_bearer`) puts the
fingerprint of the token a request carried (`_core.records.token_owner`) in the request's ASGI
scope; a tool
reads it with `owner_of`. A client then sees (and cancels, and reads) only the calls its token
started; every client of one shared token sees all of them. Over stdio, in memory, or over HTTP
without a token the owner is None: one client (or anyone who can connect) sees every call.

This module never keeps or logs a token: only its fingerprint leaves it.
"""

from __future__ import annotations

from mcp.server.mcpserver import Context

from .._core.errors import UnknownCallError
from .._core.records import CallRecord
from ..transports.asgi import OWNER_SCOPE_KEY

__all__ = ["check_visible", "owner_of"]


def owner_of(ctx: Context) -> str | None:
    """The owner of the request `ctx` serves (None: not an HTTP request with a token)."""
    request = ctx.request_context.request
    scope = getattr(request, "scope", None)
    if not isinstance(scope, dict):
        return None
    owner = scope.get(OWNER_SCOPE_KEY)
    return owner if isinstance(owner, str) else None


def check_visible(record: CallRecord | None, call_id: str, owner: str | None) -> CallRecord:
    """`record` if `owner` may see it.

    Raises:
        UnknownCallError: no such call, or another owner's (the same error: a client cannot
            learn that another token's call exists).
    """
    if record is None or (owner is not None and record.owner != owner):
        raise UnknownCallError(
            f"no call {call_id!r} on this server for this client: check the id (list_llm_calls "
            "shows the recent calls you can see), or the call was purged from the store"
        )
    return record
