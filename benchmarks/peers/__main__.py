"""Print the peer comparison: ``python -m benchmarks.peers [--calls N] [--smoke] [--json]``.

This module owns only the command line and the table; `benchmarks.peers.measure_peers` measures.
A peer that could not run is printed with its reason instead of numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics

from benchmarks.peers import measure_peers


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (p95: fraction 0.95) of `values`."""
    ordered = sorted(values)
    rank = math.ceil(fraction * len(ordered) - 1e-9)
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--smoke", action="store_true", help="one warm-up call instead of two")
    parser.add_argument("--json", action="store_true", help="print the raw entries as JSON")
    args = parser.parse_args()
    entries = measure_peers(args.calls, smoke=args.smoke)
    if args.json:
        print(json.dumps(entries, indent=2))
        return
    for entry in entries:
        times = entry["per_call_ms"]
        if entry["unavailable"] is not None or not times:
            print(f"{entry['name']:<30} not measured: {entry['unavailable']}")
            continue
        rss = "n/a" if entry["rss_mb"] is None else f"{entry['rss_mb']:.1f} MiB"
        print(
            f"{entry['name']:<30} n={len(times)} median={statistics.median(times):.1f} ms "
            f"p95={percentile(times, 0.95):.1f} ms peak RSS={rss}"
        )
        print(f"{'':<30} {entry['notes']}")


if __name__ == "__main__":
    main()
