"""The report: header, targets table, markdown, JSON and the PNG chart of one harness run.

This module owns how results are judged and shown. Sections hand it plain dicts (``title``,
``about``, ``tables``, ``data``, or ``error``); it never runs a benchmark. `targets()` holds the
project's performance goals, each checked against the figures of the same run.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from attrs import frozen

import llminst

__all__ = ["header", "targets", "write_chart", "write_json", "write_markdown"]

ROOT = Path(__file__).resolve().parent.parent


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def header(*, standin: str, smoke: bool, sections: list[str]) -> dict[str, Any]:
    """Where and when the figures were measured."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 0
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "llminst": llminst.__version__,
        "git": _git_commit(),
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "platform": platform.platform(),
        "cpus": f"{os.cpu_count()} ({usable} usable)",
        "mcp": _version("mcp"),
        "trio": _version("trio"),
        "stand-in CLI": standin,
        "mode": "smoke (tiny counts: figures are not meaningful)" if smoke else "full",
        "sections": ", ".join(sections),
    }


# --------------------------------------------------------------------------------------------
# Targets


def _get(results: dict[str, Any], *path: str | int) -> Any:
    node: Any = results
    for key in path:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _level_1000(results: dict[str, Any], method: str) -> float | None:
    for row in _get(results, "concurrency", "data", "levels") or []:
        if row["n"] == 1000:
            return float(row[method]["wall_s"]["median"])
    return None


def _throughput_ratio(results: dict[str, Any]) -> float | None:
    data = _get(results, "throughput", "data")
    if not data:
        return None
    return float(min(data["api-run"]["ratio"], data["api-stream"]["ratio"]))


def _floor(text: str, value: Any, unit: str) -> str:
    return "" if value is None else f"{text} {fmt(value)} {unit}"


@frozen
class Target:
    """One performance goal: `read` gets the measured value, `floor` what the raw baseline
    achieved on the same figure in the same run (context for a miss)."""

    name: str
    unit: str
    limit: float
    at_most: bool  # the value must be <= limit (else >= limit)
    read: Callable[[dict[str, Any]], Any]
    floor: Callable[[dict[str, Any]], str]

    @property
    def goal(self) -> str:
        return f"{'<=' if self.at_most else '>='} {self.limit:g} {self.unit}"


TARGETS = [
    Target(
        "API per-call overhead (median)",
        "ms",
        0.5,
        True,
        lambda r: _get(r, "overhead", "data", "methods", "api", "overhead_ms"),
        lambda r: _floor("raw call", _get(r, "overhead", "data", "methods", "raw", "median"), "ms"),
    ),
    Target(
        "MCP stdio per-call overhead (median)",
        "ms",
        3.0,
        True,
        lambda r: _get(r, "overhead", "data", "methods", "mcp-stdio", "overhead_ms"),
        lambda r: _floor("raw call", _get(r, "overhead", "data", "methods", "raw", "median"), "ms"),
    ),
    Target(
        "Chunk latency through the API (median)",
        "ms",
        0.3,
        True,
        lambda r: _get(r, "latency", "data", "api", "median"),
        lambda r: _floor("raw pipe", _get(r, "latency", "data", "raw", "median"), "ms"),
    ),
    Target(
        "1000 concurrent 1-s calls through the API (wall, median)",
        "s",
        1.5,
        True,
        lambda r: _level_1000(r, "api"),
        lambda r: _floor("raw trio", _level_1000(r, "raw"), "s"),
    ),
    Target(
        "Throughput through the supervisor (slower of run and open_stream)",
        "x raw pipe",
        0.5,
        False,
        _throughput_ratio,
        lambda r: _floor(
            "raw read + UTF-8 decode + join",
            _get(r, "throughput", "data", "raw-text", "ratio"),
            "x",
        ),
    ),
    Target(
        "TERM-obeying tree reaped after the deadline (median)",
        "ms",
        20.0,
        True,
        lambda r: _get(r, "cancellation", "data", "api-obey", "median"),
        lambda r: _floor("raw killpg", _get(r, "cancellation", "data", "raw-obey", "median"), "ms"),
    ),
]


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal with the measured value, whether it was met (None: not measured), and the raw
    baseline's figure for context."""
    rows = []
    for t in TARGETS:
        value = t.read(results)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            value, met = None, None
        else:
            met = value <= t.limit if t.at_most else value >= t.limit
        rows.append(
            {
                "target": t.name,
                "goal": t.goal,
                "unit": t.unit,
                "measured": value,
                "met": met,
                "raw baseline": t.floor(results) if value is not None else "",
            }
        )
    return rows


# --------------------------------------------------------------------------------------------
# Rendering


def fmt(value: Any) -> str:
    """A cell: numbers with sensible precision, missing values as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        size = abs(value)
        if size >= 100:
            return f"{value:.0f}"
        if size >= 10:
            return f"{value:.1f}"
        if size >= 0.1:
            return f"{value:.2f}"
        return f"{value:.3f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _markdown_table(columns: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows]
    return lines


def render_markdown(report: dict[str, Any], chart: str | None) -> str:
    lines = ["# llminst benchmarks", ""]
    lines += ["Produced by `python -m benchmarks` (see `benchmarks/__init__.py`).", ""]
    lines += _markdown_table(["", ""], [[k, v] for k, v in report["header"].items()])
    lines += ["", "## Targets", ""]
    lines += _markdown_table(
        ["target", "goal", "measured", "met", "raw baseline, same run"],
        [
            [
                t["target"],
                t["goal"],
                "not measured" if t["measured"] is None else f"{fmt(t['measured'])} {t['unit']}",
                "not measured" if t["met"] is None else ("met" if t["met"] else "**missed**"),
                t["raw baseline"],
            ]
            for t in report["targets"]
        ],
    )
    if chart:
        lines += ["", f"![concurrency scaling and per-call overhead]({chart})"]
    for name, section in report["sections"].items():
        lines += ["", f"## {section.get('title', name)}", ""]
        if "error" in section:
            lines += [f"**Failed:** `{section['error']}`"]
            continue
        if section.get("about"):
            lines += [section["about"], ""]
        for tab in section.get("tables", []):
            lines += [*_markdown_table(tab["columns"], tab["rows"]), ""]
        lines += [
            f"_Section time: {section.get('elapsed_s', math.nan):.1f} s; 1-minute load average "
            f"at its start: {section.get('load_at_start', math.nan):.2f}._"
        ]
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, report: dict[str, Any], chart: str | None) -> None:
    path.write_text(render_markdown(report, chart))


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.write_text(json.dumps(_json_safe(report), indent=1, allow_nan=False) + "\n")


def write_chart(path: Path, report: dict[str, Any]) -> bool:
    """Concurrency scaling (wall time vs N) and per-call medians by method; False if no data."""
    levels = _get(report, "sections", "concurrency", "data", "levels") or []
    methods = _get(report, "sections", "overhead", "data", "methods") or {}
    if not levels and not methods:
        return False
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    if levels:
        ns = [row["n"] for row in levels]
        for key, label, style in (("api", "llminst API", "o-"), ("raw", "raw trio", "s--")):
            left.plot(ns, [row[key]["wall_s"]["median"] for row in levels], style, label=label)
        call_s = levels[0].get("call_s")
        if call_s:
            left.axhline(call_s, color="grey", linewidth=0.8, linestyle=":", label="one call")
        if 1000 in ns:
            left.plot([1000], [1.5], "r*", markersize=10, label="target at N=1000")
        left.set_xscale("log")
        left.set_xlabel("concurrent calls (N)")
        left.set_ylabel("wall time (s)")
        left.set_title("Concurrency scaling")
        left.legend()
        left.grid(True, alpha=0.3)
    if methods:
        names = list(methods)
        medians = [methods[n]["median"] for n in names]
        p95 = [methods[n]["p95"] - methods[n]["median"] for n in names]
        bars = right.bar(names, medians, yerr=[[0] * len(names), p95], capsize=3, color="tab:blue")
        right.bar_label(bars, labels=[f"{m:.2f}" for m in medians], label_type="center", color="w")
        right.set_ylabel("ms per call (median; bar to p95)")
        right.set_title("Per-call time by method")
        right.tick_params(axis="x", rotation=30)
        right.grid(True, axis="y", alpha=0.3)
    head = report["header"]
    fig.suptitle(f"llminst {head['llminst']} · CPUs: {head['cpus']} · {head['date']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
