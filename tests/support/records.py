"""Hypothesis strategies for decoder tests: JSON records of known types with fields of any shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st


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
