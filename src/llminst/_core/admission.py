"""Memory-aware admission: how much memory a model's call is expected to need, and whether the
machine has it now.

* `PeakHistory` keeps the last `HISTORY_SIZE` measured peaks (process-tree RSS, MB) per model;
  `PeakHistory.expected_mb` is a model's expected peak: the 95th percentile (nearest rank) of its
  recent peaks, else its spec's ``expected_memory_mb``, else `DEFAULT_EXPECTED_MEMORY_MB`.
* `admits` is the decision: a call may start when the memory available now, minus the reserve
  (``[settings] memory_reserve_mb``), minus what the calls already admitted are still expected
  to add (their expected peak minus what they hold now), covers the call's expected peak.
* `memory_wait_timeout_error` and `memory_exceeded_error` are the two failures this adds: a call
  whose deadline passed while it waited for memory (``timeout``), and one whose process tree
  grew past its model's ``max_memory_mb`` (``memory_exceeded``).

Pure: numbers in, decisions and errors out. It must never read ``/proc``, a clock, or touch a
process (`supervisor.memory` does that and asks this module).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

import attrs
from attrs import define

from .errors import CallTimeoutError, MemoryExceededError
from .request import CallRequest
from .spec import ModelSpec

__all__ = [
    "DEFAULT_EXPECTED_MEMORY_MB",
    "HISTORY_SIZE",
    "PeakHistory",
    "admits",
    "memory_exceeded_error",
    "memory_wait_timeout_error",
    "nearest_rank_p95",
    "still_to_grow_mb",
]

DEFAULT_EXPECTED_MEMORY_MB = 100.0
"""A model's expected peak before any of its calls was measured and when its spec names none."""
HISTORY_SIZE = 50
"""How many recent peaks per model the expected peak is learned from."""


def nearest_rank_p95(values: Iterable[float]) -> float:
    """The 95th percentile of `values` by nearest rank (one of the values; never interpolated).

    Raises:
        ValueError: `values` is empty.
    """
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = math.ceil(0.95 * len(ordered))
    return ordered[rank - 1]


@define
class PeakHistory:
    """The last `size` measured peaks (MB) of each model's calls."""

    size: int = HISTORY_SIZE
    _peaks: dict[str, deque[float]] = attrs.field(init=False, factory=dict)

    def record(self, model: str, peak_mb: float) -> None:
        """A call of `model` (the spec's name) peaked at `peak_mb`."""
        peaks = self._peaks.get(model)
        if peaks is None:
            peaks = self._peaks[model] = deque(maxlen=self.size)
        peaks.append(peak_mb)

    def peaks(self, model: str) -> list[float]:
        return list(self._peaks.get(model, ()))

    def expected_mb(self, spec: ModelSpec) -> float:
        """`spec`'s expected peak: p95 of its recent peaks, else its ``expected_memory_mb``,
        else `DEFAULT_EXPECTED_MEMORY_MB`."""
        peaks = self._peaks.get(spec.name)
        if peaks:
            return nearest_rank_p95(peaks)
        if spec.expected_memory_mb is not None:
            return float(spec.expected_memory_mb)
        return DEFAULT_EXPECTED_MEMORY_MB


def still_to_grow_mb(expected_mb: float, current_mb: float | None) -> float:
    """What an admitted call is still expected to add: its expected peak minus what its tree
    holds now (all of it before the first sample)."""
    return max(0.0, expected_mb - (current_mb or 0.0))


def admits(
    *, available_mb: float, reserve_mb: float, still_to_grow_mb: float, expected_mb: float
) -> bool:
    """Whether a call expected to peak at `expected_mb` may start now.

    Args:
        available_mb: the machine's available memory now (``MemAvailable``).
        reserve_mb: what is kept free for everything else (``memory_reserve_mb``).
        still_to_grow_mb: what the calls already admitted are still expected to add.
        expected_mb: the call's expected peak.
    """
    return available_mb - reserve_mb - still_to_grow_mb >= expected_mb


def memory_wait_timeout_error(
    request: CallRequest, *, expected_mb: float, room_mb: float | None, reserve_mb: float
) -> CallTimeoutError:
    """The ``timeout`` of a call whose deadline passed while it waited for memory.

    Args:
        room_mb: what was free for it at the last look (available minus reserve minus what
            admitted calls may still add), None if never read.
    """
    seconds = request.timeout.seconds
    room = "" if room_mb is None else f", but only {max(room_mb, 0.0):.0f} MB was free for it"
    return CallTimeoutError(
        f"model {request.model!r} timed out after {seconds:g} s waiting for memory before it "
        f"started: it is expected to need {expected_mb:.0f} MB{room} (available memory minus "
        f"memory_reserve_mb = {reserve_mb:g} MB, minus what running calls may still add). "
        "Free memory or run fewer calls at once, lower the model's expected_memory_mb or "
        "[settings] memory_reserve_mb, or pass a larger timeout.",
        timeout_s=seconds,
    )


def memory_exceeded_error(
    request: CallRequest, *, peak_mb: float, limit_mb: float
) -> MemoryExceededError:
    """The ``memory_exceeded`` error of a call whose process tree grew past ``max_memory_mb``."""
    return MemoryExceededError(
        f"model {request.model!r} was killed: its process tree grew to {peak_mb:.0f} MB, past "
        f"its max_memory_mb of {limit_mb:g} MB. Raise the model's max_memory_mb if that much "
        "is expected, or ask for less work in one call.",
        peak_mb=peak_mb,
        limit_mb=limit_mb,
    )
