"""This process's environment as a plain dict, copied again only when it has changed.

A call in subreaper mode starts its CLI with one variable added (the reaper's marker), so it
cannot inherit `os.environ` as is; copying `os.environ` item by item decodes every name and
value (~25 us a call for 35 variables). `plain` keeps one copy and takes a new one only when
the encoded variables differ from those it was taken from (one C-level dict comparison).

What it must never do: change `os.environ`, or hand out a copy that callers may change (they
build their own dict from it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["plain"]

_taken_from: dict[object, object] | None = None  # os.environ's encoded variables at the copy
_copy: Mapping[str, str] = {}


def plain(base_env: Mapping[str, str]) -> Mapping[str, str]:
    """`base_env` to copy from: for `os.environ`, a plain dict equal to it as it is now."""
    global _taken_from, _copy
    if base_env is not os.environ:
        return base_env
    encoded = getattr(os.environ, "_data", None)  # CPython and PyPy keep the variables here
    if not isinstance(encoded, dict):
        return dict(os.environ)
    if encoded != _taken_from:
        _taken_from, _copy = dict(encoded), dict(os.environ)
    return _copy
