"""Capacity arithmetic: how many calls a machine (and a fleet of them) sustains, from measured
per-call figures.

This module owns the formulas and nothing else: it takes each CLI's measured CPU seconds, peak
RSS and wall time per call, and the server's own CPU and memory, and says how many calls per
second one machine sustains and how many it holds at once, linearly scaled to fleets, with the
Redis operations per second such a fleet asks of the shared store. It never measures, starts a
process or reads a file (`capacity` does the measuring).

The formulas, per CLI on one machine of ``cores`` cores and ``memory_mb`` of memory:

- CPU per call = the CLI's process tree + the server's own share (``llminst serve``);
- CPU-bound rate = ``cores / cpu_s_per_call`` calls per second;
- memory-bound concurrency = ``floor((memory_mb - reserve_mb - server_rss_mb) / peak_rss_mb)``
  calls at once;
- memory-bound rate = concurrency / wall seconds per call (Little's law);
- sustained rate = the smaller of the two; memory becomes the bound once a call lasts longer
  than ``concurrency * cpu_s_per_call / cores`` seconds (a slow model, not a slow CLI);
- a fleet of N machines: N times the rate and the concurrency (replicas share nothing but the
  store), and ``rate * redis_ops_per_call`` Redis operations per second.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

from attrs import frozen

__all__ = [
    "DEFAULT_FLEETS",
    "DEFAULT_MACHINE",
    "REDIS_OPS_PER_CALL",
    "CliFigures",
    "Estimate",
    "FleetFigures",
    "Machine",
    "ServerFigures",
    "estimate",
    "redis_ops_per_call",
]

REDIS_OPS_PER_CALL = 6
"""Client round trips one call costs the shared Redis store: measured 5.8 per call (4.7 Lua
scripts: add, running, output, final; the cooldown re-read; the cancel poll's share) by
``python -m benchmarks.redis_ops`` (benchmarks/results/redis_ops.md), rounded up.
``LLMINST_CAPACITY_REDIS_OPS`` overrides it for a run."""
DEFAULT_FLEETS = (1, 10, 100)


def redis_ops_per_call(environ: Mapping[str, str] = os.environ) -> int:
    """`REDIS_OPS_PER_CALL`, or ``LLMINST_CAPACITY_REDIS_OPS`` when set (a positive integer).

    Raises:
        ValueError: the variable is set to something else than a positive integer.
    """
    text = environ.get("LLMINST_CAPACITY_REDIS_OPS", "").strip()
    if not text:
        return REDIS_OPS_PER_CALL
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(
            f"invalid_input: LLMINST_CAPACITY_REDIS_OPS={text!r} is not a positive integer; "
            "set it to the Redis operations one call costs (e.g. 12) or unset it"
        )
    return int(text)


@frozen
class Machine:
    """One machine of the fleet: its cores, its memory and what is kept back for the rest."""

    cores: float = 2.0
    memory_mb: float = 24 * 1024.0
    reserve_mb: float = 1024.0  # the OS, page cache, sshd, ...: never given to CLI calls

    def describe(self) -> str:
        return (
            f"{self.cores:g} cores, {self.memory_mb / 1024:g} GB "
            f"({self.reserve_mb:g} MB kept for the system)"
        )


DEFAULT_MACHINE = Machine()
"""The machine of issue 15's estimate: 2 cores, 24 GB."""


@frozen
class CliFigures:
    """One CLI's measured figures per call (medians): its tree's CPU, peak RSS, wall time."""

    name: str
    cpu_s: float
    peak_rss_mb: float
    wall_s: float


@frozen
class ServerFigures:
    """``llminst serve``'s own cost: CPU seconds per call (its process only) and its RSS."""

    cpu_s_per_call: float
    rss_mb: float


@frozen
class FleetFigures:
    """What `machines` machines sustain together for one CLI."""

    machines: int
    calls_per_s: float
    concurrent_calls: int
    redis_ops_per_s: float


@frozen
class Estimate:
    """One CLI's capacity: per-machine bounds and the fleets."""

    cli: str
    cpu_s_per_call: float  # the CLI's tree plus the server's share
    cpu_bound_calls_per_s: float
    concurrent_calls: int  # memory-bound
    memory_bound_calls_per_s: float
    calls_per_s: float  # the smaller bound
    bound: str  # "cpu" or "memory"
    memory_binds_past_s: float  # a call longer than this makes memory the bound
    fleets: tuple[FleetFigures, ...]


def _check_positive(what: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(
            f"invalid_input: {what} is {value!r}; a capacity estimate needs a measured "
            "positive figure (did the calls run?)"
        )


def estimate(
    cli: CliFigures,
    server: ServerFigures,
    machine: Machine = DEFAULT_MACHINE,
    *,
    fleets: Sequence[int] = DEFAULT_FLEETS,
    redis_ops_per_call: int = REDIS_OPS_PER_CALL,
) -> Estimate:
    """The capacity of one CLI on `machine` and on each fleet size in `fleets` (see the module
    docstring for the formulas).

    Raises:
        ValueError: a figure is not positive and finite, or the machine has no memory left
            for calls once the reserve and the server are taken.
    """
    for what, value in (
        (f"{cli.name}: CPU seconds per call", cli.cpu_s),
        (f"{cli.name}: peak RSS per call (MB)", cli.peak_rss_mb),
        (f"{cli.name}: wall seconds per call", cli.wall_s),
        ("the machine's cores", machine.cores),
    ):
        _check_positive(what, value)
    cpu_s = cli.cpu_s + max(server.cpu_s_per_call, 0.0)
    usable_mb = machine.memory_mb - machine.reserve_mb - max(server.rss_mb, 0.0)
    _check_positive("the machine's memory left for calls (MB)", usable_mb)
    cpu_rate = machine.cores / cpu_s
    concurrent = math.floor(usable_mb / cli.peak_rss_mb)
    memory_rate = concurrent / cli.wall_s
    rate = min(cpu_rate, memory_rate)
    return Estimate(
        cli=cli.name,
        cpu_s_per_call=cpu_s,
        cpu_bound_calls_per_s=cpu_rate,
        concurrent_calls=concurrent,
        memory_bound_calls_per_s=memory_rate,
        calls_per_s=rate,
        bound="cpu" if cpu_rate <= memory_rate else "memory",
        memory_binds_past_s=concurrent * cpu_s / machine.cores,
        fleets=tuple(
            FleetFigures(
                machines=n,
                calls_per_s=rate * n,
                concurrent_calls=concurrent * n,
                redis_ops_per_s=rate * n * redis_ops_per_call,
            )
            for n in fleets
        ),
    )
