"""Whether a command's call store answers, as `llminst status` and `llminst top` show it.

A store on a server (Redis) can be away for a while. `status` still shows the models when it
cannot reach the store (`open_status_store` falls back to a memory store, without the shared
cooldowns) and says so in a ``store`` line; `top` keeps its last table and says so in a red line
until the store answers again (`StoreState`). The words are those of ``get_llm_status``'s
``store_degraded`` / ``store_error``.

What it must never do: hide a store that cannot be used for good (a bad URL, a file that is not
a store: the command still fails with its line), or print the store's password.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import attrs

from ..replicas.health import is_unavailable
from ..store import CallStore, open_store
from ..store.opening import MEMORY, store_label
from ..store.redis.connection import RedisLocation, StoreUnreachableError, is_redis_url
from .common import Setup, open_command_store, store_spec

__all__ = ["StoreState", "open_status_store", "store_label_of", "store_line"]


def store_line(label: str, problem: str | None) -> str:
    """The line about a store on a server (Redis): ``ok``, or degraded and why."""
    if problem is None:
        return f"store: {label} ok"
    return f"store degraded: {problem}"


@asynccontextmanager
async def open_status_store(
    args: argparse.Namespace, setup: Setup
) -> AsyncIterator[tuple[CallStore, str | None]]:
    """The command's store and None; or, when its server does not answer now, a memory store
    and why (a bad URL or an unusable file still raises, as `open_command_store` does)."""
    spec = store_spec(args, setup)
    if spec is not None and is_redis_url(os.fspath(spec)):
        RedisLocation.parse(os.fspath(spec))  # a bad URL is a ConfigError, not an outage
    async with AsyncExitStack() as stack:
        problem = None
        try:
            store = await stack.enter_async_context(open_command_store(args, setup))
        except StoreUnreachableError as exc:
            if spec is None or not is_redis_url(os.fspath(spec)):
                raise
            store = await stack.enter_async_context(open_store(MEMORY))
            problem = str(exc).removeprefix("store ") + _WITHOUT_IT
        yield store, problem


_WITHOUT_IT = " (shown without the shared cooldowns)"


@attrs.define
class StoreState:
    """`top`'s view of its store on a server: None while it answers, else what is wrong."""

    label: str
    problem: str | None = None

    def failed(self, exc: BaseException) -> bool:
        """Note that a read failed; whether that is an outage (else the caller re-raises)."""
        if not is_unavailable(exc):
            return False
        self.problem = (
            f"{self.label} is unreachable ({type(exc).__name__}: {exc or 'no answer'}); "
            "showing the calls as last read until it answers"
        )
        return True

    def answered(self) -> None:
        self.problem = None


def store_label_of(args: argparse.Namespace, setup: Setup) -> str | None:
    """The store's label when it is on a server (Redis), else None."""
    spec = store_spec(args, setup)
    if spec is None or not is_redis_url(os.fspath(spec)):
        return None
    return store_label(spec)
