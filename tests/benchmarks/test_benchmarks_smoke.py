"""Smoke runs of the benchmark scripts (tiny counts): they run end to end and print a figure."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..support.paths import ROOT


def test_progress_latency_benchmark_runs() -> None:
    """benchmarks.progress_latency measures chunk -> notification latency over a real stdio server."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.progress_latency", "--calls", "1", "--lines", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    match = re.search(r"n=(\d+) median=([\d.]+) ms", result.stdout)
    assert match and int(match.group(1)) == 3, result.stdout
    assert float(match.group(2)) < 1000


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


@pytest.mark.slow
def test_benchmark_harness_smoke_run_writes_every_section(tmp_path: Path) -> None:
    """`python -m benchmarks --smoke` writes markdown, JSON and a chart with numbers in every section."""
    out = tmp_path / "results"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "LLMINST_CC_EXECUTOR"},  # CI: no peer
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert time.monotonic() - started < 240
    assert (out / "latest.png").read_bytes().startswith(b"\x89PNG")
    report = json.loads((out / "latest.json").read_text())
    markdown = (out / "latest.md").read_text()

    header = report["header"]
    for key in ("date", "llminst", "python", "platform", "cpus", "stand-in CLI"):
        assert header[key], key
    sections = report["sections"]
    assert list(sections) == [
        "overhead",
        "latency",
        "throughput",
        "concurrency",
        "cancellation",
        "coldstart",
        "fanout",
        "memory",
        "warm",
        "peers",
        "cc_executor",
    ]
    for name, section in sections.items():
        assert "error" not in section, (name, section.get("error"))
        assert f"## {section['title']}" in markdown, name

    methods = sections["overhead"]["data"]["methods"]
    for method in (
        *("raw", "api", "api-sqlite", "api-redis", "mcp-memory", "mcp-stdio", "mcp-http"),
        *("raw-claude", "api-claude"),
    ):
        assert methods[method]["n"] > 0 and _positive(methods[method]["median"]), method
        assert _positive(methods[method]["p95"]), method
    assert methods["api-sqlite"]["baseline"] == "api"  # store on vs store off, same run
    assert math.isfinite(methods["api-sqlite"]["overhead_ms"])
    assert methods["api-redis"]["baseline"] == "api-sqlite"  # Redis store vs SQLite, same run
    # the SDK's own stdio round trip, and what llminst adds to an MCP call over it and the CLI
    assert _positive(methods["sdk-stdio"]["median"]) and "overhead_ms" not in methods["sdk-stdio"]
    over_sdk = sections["overhead"]["data"]["mcp_stdio_over_sdk_ms"]
    assert over_sdk == pytest.approx(
        methods["mcp-stdio"]["median"] - methods["sdk-stdio"]["median"] - methods["raw"]["median"]
    )
    for consumer in ("raw", "api", "api-sqlite", "mcp-stdio"):
        assert _positive(sections["latency"]["data"][consumer]["median"]), consumer
    for reader in ("raw", "api-run", "api-stream"):
        assert _positive(sections["throughput"]["data"][reader]["median"]), reader
    levels = sections["concurrency"]["data"]["levels"]
    assert [level["n"] for level in levels] == [1, 10]
    for level in levels:
        for method in ("raw", "api"):
            figures = level[method]
            assert figures["wall_s"]["median"] >= level["call_s"], (level["n"], method)
            assert _positive(figures["peak_rss_mb"]["median"]), (level["n"], method)
            assert _positive(figures["cpu_self_s"]["median"]), (level["n"], method)
    cancellation = sections["cancellation"]["data"]
    for call in ("raw-obey", "api-obey", "raw-ignore", "api-ignore"):
        assert cancellation[call]["n"] > 0 and math.isfinite(cancellation[call]["median"]), call
    # A TERM-ignoring tree can only die at the SIGKILL, after the grace period.
    assert cancellation["api-ignore"]["median"] >= cancellation["grace_s"] * 1000 * 0.9
    coldstart = sections["coldstart"]["data"]
    assert _positive(coldstart["serve"]["median"])
    assert _positive(coldstart["serve"]["idle_rss_mb"]["median"])
    fanout = sections["fanout"]["data"]
    for via in ("api", "mcp"):
        assert fanout[f"{via}-one"]["median"] >= fanout["call_s"], via
        assert fanout[f"{via}-compare"]["median"] >= fanout["call_s"], via
        assert _positive(fanout[f"{via}-ratio"]), via
    warm = sections["warm"]["data"]
    assert _positive(warm["cold"]["median"]) and _positive(warm["warm"]["median"])
    assert warm["cold"]["median"] >= warm["start_s"] * 1000  # cold pays the start-up
    peers = sections["peers"]["data"]
    if peers["available"]:
        first = peers["peers"][0]
        assert first["unavailable"] is None and all(_positive(t) for t in first["per_call_ms"])
    else:
        assert "peers: not available (" in markdown
    assert sections["cc_executor"]["data"]["available"] is False  # opt-in: skipped, saying how
    assert "skipped: no cc_executor configured" in markdown

    targets = {t["target"]: t for t in report["targets"]}
    assert len(targets) == 8
    for target in targets.values():
        if "1000 concurrent" in target["target"]:
            assert target["measured"] is None  # a smoke run stops at N = 10
        else:
            assert math.isfinite(target["measured"]), target
            assert isinstance(target["met"], bool), target
    assert "## Targets" in markdown
    assert re.search(r"\| api \| \d+ \| [\d.]+ \|", markdown), "the overhead table has no numbers"


def test_readme_benchmark_block_is_generated_from_the_committed_results() -> None:
    """README's benchmark block is exactly what benchmarks.report renders from latest.json."""
    from benchmarks import report

    latest = json.loads((ROOT / "benchmarks" / "results" / "latest.json").read_text())
    readme = (ROOT / "README.md").read_text()
    assert report.readme_block(latest) in readme
    assert (ROOT / "benchmarks" / "results" / "latest.png").read_bytes().startswith(b"\x89PNG")


def test_update_readme_replaces_only_the_block(tmp_path: Path) -> None:
    """update_readme rewrites the text between the markers and refuses a README without them."""
    from benchmarks import report

    latest = json.loads((ROOT / "benchmarks" / "results" / "latest.json").read_text())
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{report.README_BEGIN}\nold\n{report.README_END}\nafter\n")
    report.update_readme(readme, latest)
    assert readme.read_text() == f"before\n{report.readme_block(latest)}\nafter\n"
    readme.write_text("no markers\n")
    with pytest.raises(ValueError, match="benchmarks:begin"):
        report.update_readme(readme, latest)


def test_cache_latency_benchmark_runs() -> None:
    """benchmarks.cache_latency times cache hits (library and execute_llm) after one real miss."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.cache_latency", "--hits", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    hits = re.findall(r"cache hit, [\w ]+: n=(\d+) median=([\d.]+) ms", result.stdout)
    assert [int(n) for n, _ in hits] == [3, 3, 3], result.stdout
    assert "cache miss (a real process)" in result.stdout
