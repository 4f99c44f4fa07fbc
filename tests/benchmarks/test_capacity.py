"""The capacity section (benchmarks/capacity.py, capacity_estimate.py): the arithmetic from
given figures, the report it writes, that it is opt-in and says why it skips without the real
CLIs, and (``-m realcli``) a real measurement of all five CLIs.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from benchmarks.capacity import CLI_MODELS, locate_bin, measure_calls
from benchmarks.capacity import report as capacity_report
from benchmarks.capacity_estimate import (
    REDIS_OPS_PER_CALL,
    CliFigures,
    Machine,
    ServerFigures,
    estimate,
    redis_ops_per_call,
)
from benchmarks.harness import _selected, default_sections, results_stem
from benchmarks.report import render_markdown

from llminst import ModelSpec

from ..realcli.harness import locate_clis
from ..realcli.install import CLIS
from ..support.paths import ROOT

CLAUDE = CliFigures(name="claude", cpu_s=0.8, peak_rss_mb=320.0, wall_s=0.9)
SERVER = ServerFigures(cpu_s_per_call=0.02, rss_mb=80.0)


def _figures(cpu: float, rss: float, wall: float) -> dict[str, Any]:
    def stats(value: float) -> dict[str, Any]:
        return {"n": 3, "median": value, "p95": value, "max": value}

    return {
        "model": "m",
        "cpu_s": stats(cpu),
        "peak_rss_mb": stats(rss),
        "wall_s": stats(wall),
        "children_left_unreaped": 0,
    }


# --- the arithmetic ----------------------------------------------------------------------------


def test_estimate_adds_the_server_share_and_takes_the_smaller_bound() -> None:
    """cores / (CLI + server CPU) calls/s; (memory - reserve - server) / peak calls at once."""
    found = estimate(CLAUDE, SERVER, Machine(cores=2, memory_mb=24576, reserve_mb=1024))

    assert found.cpu_s_per_call == pytest.approx(0.82)
    assert found.cpu_bound_calls_per_s == pytest.approx(2 / 0.82)
    assert found.concurrent_calls == 73  # floor(23472 / 320)
    assert found.memory_bound_calls_per_s == pytest.approx(73 / 0.9)
    assert found.bound == "cpu" and found.calls_per_s == found.cpu_bound_calls_per_s
    assert found.memory_binds_past_s == pytest.approx(73 * 0.82 / 2)


def test_fleets_scale_linearly_and_count_redis_operations() -> None:
    """N machines: N x the rate and the concurrency; Redis ops/s = fleet rate x ops per call."""
    found = estimate(CLAUDE, SERVER, fleets=(1, 10, 100), redis_ops_per_call=7)
    one = found.calls_per_s

    assert [f.machines for f in found.fleets] == [1, 10, 100]
    for fleet in found.fleets:
        assert fleet.calls_per_s == pytest.approx(one * fleet.machines)
        assert fleet.concurrent_calls == found.concurrent_calls * fleet.machines
        assert fleet.redis_ops_per_s == pytest.approx(one * fleet.machines * 7)


def test_a_small_machine_is_memory_bound() -> None:
    """With room for two calls that each last 10 s, memory (not CPU) sets the rate."""
    slow = CliFigures(name="slow", cpu_s=0.1, peak_rss_mb=500.0, wall_s=10.0)
    found = estimate(slow, SERVER, Machine(cores=8, memory_mb=2104, reserve_mb=1000))

    assert found.concurrent_calls == 2  # floor((2104 - 1000 - 80) / 500)
    assert found.bound == "memory"
    assert found.calls_per_s == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("cli", "machine", "named"),
    [
        (CliFigures("claude", math.nan, 320.0, 0.9), Machine(), "claude: CPU seconds per call"),
        (CliFigures("codex", 0.3, 0.0, 0.4), Machine(), "codex: peak RSS per call"),
        (CLAUDE, Machine(memory_mb=1000, reserve_mb=1024), "memory left for calls"),
    ],
)
def test_a_missing_figure_is_a_clear_error(cli: CliFigures, machine: Machine, named: str) -> None:
    """A NaN (no call measured) or a machine with no room gives invalid_input, not a table."""
    with pytest.raises(ValueError, match=r"^invalid_input: ") as caught:
        estimate(cli, SERVER, machine)
    assert named in str(caught.value)


def test_redis_ops_per_call_defaults_and_is_settable() -> None:
    """6, the round trips benchmarks.redis_ops measured; LLMINST_CAPACITY_REDIS_OPS sets it."""
    assert redis_ops_per_call({}) == REDIS_OPS_PER_CALL == 6
    assert redis_ops_per_call({"LLMINST_CAPACITY_REDIS_OPS": " 30 "}) == 30
    for bad in ("0", "-3", "many"):
        with pytest.raises(ValueError, match=r"^invalid_input: LLMINST_CAPACITY_REDIS_OPS="):
            redis_ops_per_call({"LLMINST_CAPACITY_REDIS_OPS": bad})


# --- the report ----------------------------------------------------------------------------------


def test_report_tables_come_from_the_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """The section's result: measured figures, one machine's bounds, the fleets with Redis."""
    monkeypatch.setenv("LLMINST_CAPACITY_REDIS_OPS", "5")
    measured = {"claude": _figures(0.8, 320.0, 0.9), "llm": _figures(1.0, 64.0, 2.0)}
    server = {"calls": 100, "cpu_s_per_call": 0.0, "rss_mb": 80.0, "peak_rss_mb": 81.0}

    section = capacity_report(measured, server)

    figures, machine, fleets = section["tables"]
    assert [row[0] for row in figures["rows"]][:2] == ["claude", "llm"]
    assert "load" in " ".join(figures["columns"])  # wall time is flagged as load-sensitive
    assert machine["rows"][0][:4] == ["claude", 0.8, 2.5, 73]
    assert fleets["columns"][-1] == "Redis ops/s (5/call)"
    assert [row[:2] for row in fleets["rows"]][:3] == [
        ["claude", 1],
        ["claude", 10],
        ["claude", 100],
    ]
    assert fleets["rows"][2][4] == pytest.approx(2.5 * 100 * 5)
    data = section["data"]
    assert data["redis_ops_per_call"] == 5 and data["estimates"]["llm"]["bound"] == "cpu"
    json.dumps(data)  # the results file takes it as it is
    markdown = render_markdown(
        {"header": {}, "targets": [], "sections": {"capacity": section}}, None
    )
    assert "| claude | 100 | 250 | 7300 | 1250 |" in markdown


# --- opt-in and skipping -------------------------------------------------------------------------


def test_capacity_is_opt_in_and_keeps_its_own_results_file() -> None:
    """A plain run leaves it out (CI has no real CLIs); --only names it; run alone it writes
    capacity.md / .json, never the default run's latest.*."""
    assert "capacity" not in _selected(None) == default_sections()
    assert _selected("capacity") == ["capacity"]
    assert results_stem(["capacity"]) == "capacity"
    assert results_stem(default_sections()) == results_stem(["overhead", "capacity"]) == "latest"


def test_locate_bin_lists_the_missing_clis(tmp_path: Path) -> None:
    """LLMINST_REALCLI_BIN with only claude and llm: the other three are missing."""
    for name in ("claude", "llm"):
        (tmp_path / CLIS[name].executable).write_text("")

    folder, missing = locate_bin({"LLMINST_REALCLI_BIN": str(tmp_path)})

    assert folder == tmp_path
    assert missing == ["gemini", "codex", "openai"]


def test_section_without_clis_skips_with_a_clear_line(tmp_path: Path) -> None:
    """`python -m benchmarks --only capacity` with no CLI installed: exit 0, one line naming
    the folder, the missing CLIs and the install command."""
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "LLMINST_REALCLI_BIN": str(empty)}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "capacity", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    markdown = (tmp_path / "out" / "capacity.md").read_text()
    names = " ".join(CLI_MODELS)
    assert (
        f"capacity: skipped (not installed in {empty}: {', '.join(CLI_MODELS)} (run "
        f"`python tests/realcli/install.py {names}`" in markdown
    )
    section = json.loads((tmp_path / "out" / "capacity.json").read_text())["sections"]["capacity"]
    assert section["data"]["available"] is False


# --- the measurement, on a stand-in ----------------------------------------------------------

# A CLI whose work is done by its child: the child burns CPU_S of CPU time and holds HOLD_MB of
# touched memory, the leader waits for it and answers. Nothing is measured in the leader itself.
CPU_S, HOLD_MB = 0.4, 120
BUSY_CHILD = f"""
import subprocess, sys
child = (
    "import time\\n"
    "block = bytearray({HOLD_MB} * 2**20)\\n"
    "for i in range(0, len(block), 4096): block[i] = 1\\n"
    "while time.process_time() < {CPU_S}: pass\\n"
    "time.sleep(0.4)\\n"
)
subprocess.run([sys.executable, "-c", child], check=True)
print("answered")
"""


async def test_measure_calls_counts_the_whole_tree(tmp_path: Path) -> None:
    """A child's CPU and memory are the call's: CPU >= what the child burned, peak RSS >= what
    it held, one figure per measured call (the warm-up left out), nothing left unreaped."""
    spec = ModelSpec(name="busy", command=(sys.executable, "-c", BUSY_CHILD))

    figures = await measure_calls(
        "busy", models={"busy": spec}, env=dict(os.environ), calls=2, cwd=tmp_path
    )

    assert figures["cpu_s"]["n"] == figures["peak_rss_mb"]["n"] == figures["wall_s"]["n"] == 2
    assert figures["cpu_s"]["min"] >= CPU_S
    assert figures["peak_rss_mb"]["min"] >= HOLD_MB
    assert figures["wall_s"]["min"] >= 0.4  # the child's hold, at least
    assert figures["children_left_unreaped"] == 0


# --- the real CLIs -------------------------------------------------------------------------------


@pytest.mark.realcli
def test_smoke_run_measures_every_real_cli(tmp_path: Path) -> None:
    """`--smoke --only capacity` on the installed CLIs: positive CPU, peak RSS and wall for
    all five, nothing left unreaped, the server's own figures, and the fleets' table."""
    realcli_bin = locate_clis(list(CLI_MODELS))  # fails (never skips) saying how to install
    env = {**os.environ, "LLMINST_REALCLI_BIN": str(realcli_bin)}
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--only", "capacity", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=env,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads((out / "capacity.json").read_text())["sections"]["capacity"]["data"]
    assert list(data["clis"]) == list(CLI_MODELS)
    for name, figures in data["clis"].items():
        for key in ("cpu_s", "peak_rss_mb", "wall_s"):
            assert figures[key]["n"] == 2 and figures[key]["median"] > 0, (name, key)
        assert figures["children_left_unreaped"] == 0, name
        assert data["estimates"][name]["fleets"][2]["machines"] == 100
    assert data["server"]["cpu_s_per_call"] > 0 and data["server"]["rss_mb"] > 20
