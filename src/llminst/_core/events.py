"""Events that output decoders produce from a CLI's stdout.

A decoder turns bytes into these; the supervisor turns them into stream chunks, retry hints and the
final `CallResult`. Pure data: no I/O, no trio.
"""

from __future__ import annotations

from typing import Any

from attrs import frozen

__all__ = ["ErrorNotice", "Event", "FinalResult", "RetryNotice", "TextDelta", "Truncated"]


@frozen
class TextDelta:
    """A piece of the answer text, in order."""

    text: str


@frozen
class FinalResult:
    """The CLI's own summary of the call (structured formats only).

    Attributes:
        text: the final answer as the CLI reports it (None when it reported none).
        is_error: the CLI says the call failed, whatever its exit code.
        subtype: the CLI's classification (claude: ``success``, ``error_max_turns``, ...).
        usage: token usage as the CLI reports it.
        cost_usd: the cost the CLI reports.
        session_id: the CLI's session/thread id.
    """

    text: str | None
    is_error: bool = False
    subtype: str | None = None
    usage: dict[str, Any] | None = None
    cost_usd: float | None = None
    session_id: str | None = None


@frozen
class RetryNotice:
    """The CLI reports it hit a rate/usage limit or is retrying an API error itself.

    Attributes:
        message: a human readable description.
        delay_s: how long the CLI says to wait, when it says.
        reset_at: when the limit resets (epoch seconds), when it says.
        rate_limited: True when this is a rate or usage limit (not just a transient retry).
    """

    message: str
    delay_s: float | None = None
    reset_at: float | None = None
    rate_limited: bool = False


@frozen
class ErrorNotice:
    """The CLI reported an error in its structured output."""

    message: str


@frozen
class Truncated:
    """Output was dropped to bound memory (a line or the whole output was too long)."""

    dropped_bytes: int
    reason: str


Event = TextDelta | FinalResult | RetryNotice | ErrorNotice | Truncated
