"""Collects progress notifications the way a careful MCP client must.

The SDK client runs each progress callback in a task of its own, so callbacks may run out of
order (trio randomizes scheduling) and may still be pending when `call_tool` returns. The
server's `progress` counter is strictly increasing: order by it, and wait for the stragglers.
"""

from __future__ import annotations

import anyio


class ProgressRecorder:
    def __init__(self) -> None:
        self.notifications: list[tuple[float, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.notifications.append((progress, message))

    @property
    def ordered(self) -> list[tuple[float, str | None]]:
        return sorted(self.notifications)

    @property
    def chunks(self) -> list[str]:
        return [m for _, m in self.ordered if m is not None]

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    async def wait_for_text(self, expected: str, *, within_s: float = 5.0) -> None:
        """Wait until the ordered chunks spell `expected`; fail with what arrived if they never do."""
        with anyio.move_on_after(within_s):
            while self.text != expected:  # noqa: ASYNC110 - callbacks run in the client's tasks
                await anyio.sleep(0.005)
        assert self.text == expected, f"progress text {self.text!r} != {expected!r}"
        counters = [p for p, _ in self.ordered]
        # Every notification (text or keepalive) takes the next counter: a gap is a lost one.
        assert counters == list(range(1, len(counters) + 1)), f"progress counters {counters}"
