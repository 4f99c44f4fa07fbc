"""The cancel bus: a cancel request reaches the process running the call at once.

`llminst cancel`, `llminst top` and ``cancel_llm`` on any replica write the request to the
store (`CallStore.request_cancel`) and `publish_cancel` the call's id on
``<prefix>cancel-bus``; every replica's `listen` hands each id it hears to `on_cancel`, which ends
the call if it runs there. The store's polling (`supervisor.cancels.CancelWatch`, every 0.2 s)
stays as the fallback for a message lost while Redis was away.

What it must never do: cancel anything itself (it only passes ids on), or end the listener
because Redis is unreachable (it reconnects and subscribes again).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from ..logs import get_logger
from .health import RETRY_MAX_S, is_unavailable

__all__ = ["cancel_channel", "listen", "publish_cancel"]

_log = get_logger()


def cancel_channel(prefix: str) -> str:
    return f"{prefix}cancel-bus"


async def publish_cancel(client: Any, prefix: str, call_id: str) -> int:
    """Tell every listening replica that `call_id` should be cancelled; how many heard it."""
    heard: int = await client.publish(cancel_channel(prefix), call_id)
    return heard


async def listen(
    client: Any,
    prefix: str,
    on_cancel: Callable[[str], None],
    subscribed: trio.Event,
) -> None:
    """Pass every call id published on the cancel channel to `on_cancel`, forever.

    `subscribed` is set once the first subscription is in place, so a request published
    after it is heard. (While Redis cannot be reached, coredis keeps trying to subscribe;
    the store's polling covers meanwhile.)
    """
    channel = cancel_channel(prefix)
    while True:
        try:
            async with client.pubsub(channels=[channel], ignore_subscribe_messages=True) as pubsub:
                subscribed.set()
                async for message in pubsub:
                    if message.get("type") == "message":
                        on_cancel(str(message["data"]))
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            _log.warning("llminst.replica.cancel_listener_lost", error=repr(exc))
            await trio.sleep(RETRY_MAX_S)
