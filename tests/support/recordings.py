"""The real CLIs' recorded outputs in tests/fixtures, and what llminst takes from claude's.

The decoder tests read the recordings; the realcli tests compare a live CLI's output with them
(`decode_summary` drops what changes from run to run).
"""

from __future__ import annotations

import re
from typing import Any

from llminst._core.decoders import ClaudeStreamJsonDecoder
from llminst._core.events import Event, FinalResult, RetryNotice, TextDelta

from .paths import FIXTURES

CLAUDE_FIXTURES = FIXTURES / "claude"


def load_fixture(name: str) -> bytes:
    """claude's recorded stdout for scenario `name` (tests/fixtures/claude/NAME.jsonl)."""
    return (CLAUDE_FIXTURES / f"{name}.jsonl").read_bytes()


def decode(data: bytes, chunk: int = 4096) -> list[Event]:
    """claude's stream-json output decoded, fed `chunk` bytes at a time."""
    decoder = ClaudeStreamJsonDecoder()
    events: list[Event] = []
    for start in range(0, len(data), chunk):
        events += decoder.feed(data[start : start + chunk])
    return events + decoder.close()


def decode_summary(data: bytes) -> dict[str, Any]:
    """What llminst takes from an output, minus what changes run to run (ids, timings)."""
    data = re.sub(rb"limit reached\|\d+", b"limit reached|EPOCH", data)
    data = re.sub(rb"resets \d{1,2}(?::\d{2})?[ap]m", b"resets CLOCK", data)  # "resets 2:21pm"
    events = decode(data)
    final = next((e for e in events if isinstance(e, FinalResult)), None)
    return {
        "text": "".join(e.text for e in events if isinstance(e, TextDelta)),
        "final_text": final.text if final else None,
        "is_error": final.is_error if final else None,
        "subtype": final.subtype if final else None,
        "has_session_id": bool(final and final.session_id),
        "usage_input_tokens": (final.usage or {}).get("input_tokens") if final else None,
        "notices": [
            (n.rate_limited, n.delay_s is not None) for n in events if isinstance(n, RetryNotice)
        ],
    }
