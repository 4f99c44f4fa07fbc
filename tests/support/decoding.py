"""Feeding decoders in tests: claude-style JSON lines, every chunking, the events' text.

`run(decoder, chunks)` feeds each chunk then closes the decoder; `chunkings(data)` is a
Hypothesis strategy of ways to cut `data` (anywhere, or one byte at a time), and
`malformed_records` one of JSON records of known types with fields of any shape: what a decoder
must survive. `pure_property` drops Hypothesis' deadline: the decoders are pure and fast, and
timing noise on a busy machine is no failure.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

from llminst._core.decoders import Decoder
from llminst._core.events import Event, TextDelta

pure_property = settings(deadline=None)


def jsonl(records: Iterable[dict[str, Any] | str], *, ending: str = "\n") -> bytes:
    """Serialize records as claude does (dicts as JSON, strings as raw text lines)."""
    lines = (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records)
    return "".join(line + ending for line in lines).encode()


def run(decoder: Decoder, chunks: Iterable[bytes]) -> list[Event]:
    """Every event `decoder` gives for `chunks`, fed in order, then closed."""
    events: list[Event] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.close())
    return events


def text_of(events: Iterable[Event]) -> str:
    """The answer text the events carry (their TextDelta pieces joined)."""
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def non_text(events: Iterable[Event]) -> list[Event]:
    return [e for e in events if not isinstance(e, TextDelta)]


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def one_byte_at_a_time(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def chunkings(data: bytes) -> st.SearchStrategy[list[bytes]]:
    """Ways to cut `data`: at up to 20 places anywhere, or one byte at a time."""
    cuts = st.lists(st.integers(0, len(data)), max_size=20).map(lambda c: split_at(data, c))
    return cuts | st.just(one_byte_at_a_time(data))


def malformed_records(
    types: Sequence[str], keys: Sequence[str], values: Sequence[Any]
) -> st.SearchStrategy[dict[str, Any]]:
    """Records whose `type` is one of `types` and whose fields (named from `keys`) hold any
    mix of `values`, scalars, lists and nested objects: what a decoder must survive."""
    scalars = (
        st.sampled_from(list(values))
        | st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=5)
    )
    fields = st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(list(keys)), inner, max_size=4)
        ),
        max_leaves=12,
    )
    return st.builds(
        lambda kind, extra: {**extra, "type": kind},
        st.sampled_from(list(types)),
        st.dictionaries(st.sampled_from(list(keys)), fields, max_size=6),
    )
