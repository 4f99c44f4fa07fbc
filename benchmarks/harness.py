"""The harness: `python -m benchmarks [--smoke] [--only NAME,...] [--out DIR]`.

This module owns running the sections in order (each in a fresh Python process, so one
section's leftovers cannot skew the next), the run's scratch folder and stand-in, and writing
``latest.md``, ``latest.json`` and ``latest.png`` into the output folder. A section that fails
is recorded with its error and the run goes on; the exit status is then 1.

A smoke run (tiny counts) or a partial one (``--only``) writes to a fresh temporary folder unless
``--out`` names another; a smoke run refuses to write into the committed ``benchmarks/results/``. ``LLMINST_BENCH_STANDIN=python``
uses the Python stand-in even where a C compiler exists. The ``cc_executor`` section runs the
real peer only with ``--cc-executor PATH`` or ``$LLMINST_CC_EXECUTOR``; else it says how.
Opt-in sections (`OPT_IN`: they need what CI lacks) run only when ``--only`` names them or
``--with`` adds them to a full run; run alone, they write ``NAME.md`` and
``NAME.json`` (``capacity.md``) into the results folder, never replacing ``latest.*`` or the
README's block.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import trio

from llminst import configure_logging

from . import report
from .common import ROOT, Context
from .peers.cc_executor import configured_path
from .standins import StandIn, build_standin

__all__ = ["OPT_IN", "SECTIONS", "default_sections", "main", "results_stem"]

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
# name -> module (each has `async def run(ctx) -> dict`; peers and cc_executor are synchronous).
SECTIONS = {
    "overhead": "overhead",
    "latency": "latency",
    "throughput": "throughput",
    "concurrency": "concurrency",
    "cancellation": "cancellation",
    "coldstart": "coldstart",
    "fanout": "fanout",
    "memory": "memory",
    "warm": "warm",
    "peers": "peer_table",
    "cc_executor": "executors",
    "capacity": "capacity",
    "realmodel": "realmodel.section",
}
# Sections a plain run leaves out: they need what CI does not have (the real CLIs, a built
# llama-server); `--only` names them, `--with NAME` adds them to a full run.
_SECTION_STOP_S = 60.0  # an interrupted section's time to end its processes
OPT_IN = frozenset({"capacity", "realmodel"})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure llminst's cost against raw baselines on stand-in CLIs.",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny counts (about a minute)")
    parser.add_argument(
        "--only",
        help=(
            f"comma-separated sections to run (default: {', '.join(default_sections())}; "
            f"opt-in: {', '.join(sorted(OPT_IN))})"
        ),
    )
    parser.add_argument(
        "--with",
        dest="with_",
        help=f"comma-separated opt-in sections to add to a full run ({', '.join(sorted(OPT_IN))})",
    )
    parser.add_argument(
        "--cc-executor",
        metavar="PATH",
        help="the real cc_executor (its unpacked tree or .tar.gz) for the cc_executor section "
        "(default $LLMINST_CC_EXECUTOR; without it the section is skipped)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help=(
            f"output folder (default {DEFAULT_OUT}; a smoke or --only run: a temporary "
            "folder, but for opt-in sections alone, which write NAME.md and NAME.json there)"
        ),
    )
    return parser


def default_sections() -> list[str]:
    """What a run without ``--only`` measures: every section but the opt-in ones."""
    return [n for n in SECTIONS if n not in OPT_IN]


def results_stem(names: list[str]) -> str:
    """The results files' name: ``latest`` (.md, .json, .png), or for a run of opt-in
    sections alone their names (``capacity.md``), so it never replaces the default run's."""
    if names and set(names) <= OPT_IN:
        return "-".join(names)
    return "latest"


def _selected(only: str | None, with_: str | None = None) -> list[str]:
    if not only:
        extra = _names(with_ or "")
        return [n for n in SECTIONS if n not in OPT_IN or n in extra]
    return _names(only)


def _names(listed: str) -> list[str]:
    names = [n.strip() for n in listed.split(",") if n.strip()]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise SystemExit(
            f"unknown section(s) {', '.join(unknown)}; pick from {', '.join(SECTIONS)}"
        )
    return [n for n in SECTIONS if n in names]


def _out_dir(out: Path | None, smoke: bool, partial: bool) -> Path:
    if out is None:
        if smoke or partial:
            return Path(tempfile.mkdtemp(prefix="llminst-bench-"))
        return DEFAULT_OUT
    if smoke and out.resolve() == DEFAULT_OUT:
        raise SystemExit("a smoke run must not overwrite the committed results; pick another --out")
    return out


def raise_open_file_limit() -> tuple[int, int]:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit (1000 calls need ~3000 descriptors)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def _run_section(
    name: str, ctx: Context, results: dict[str, Any], cc_executor: str | None = None
) -> dict[str, Any]:
    """Run one section in a fresh interpreter (`_section_worker`) and return its result.

    A fresh process per section keeps one section's heap (200 MB of throughput text), threads
    and event-loop state from skewing the next, and keeps children's peak-RSS figures honest
    (a child started from a big process inherits its high-water mark).
    """
    spec = {
        "section": name,
        "prefix": list(ctx.standin.prefix),
        "kind": ctx.standin.kind,
        "workdir": str(ctx.workdir),
        "smoke": ctx.smoke,
        "raw_ms": report._get(results, "overhead", "data", "methods", "raw", "median"),
        "cc_executor": cc_executor,
    }
    result_path = ctx.workdir / f"section-{name}.json"
    result_path.unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.harness", json.dumps(spec), str(result_path)],
        cwd=ROOT,
    )
    try:
        returncode = process.wait()
    except BaseException:
        # Interrupted: let the section end its calls and servers (SIGINT is a cancellation
        # there); `subprocess.run` would SIGKILL it and orphan its CLIs and llama-server.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=_SECTION_STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
    if returncode != 0 or not result_path.exists():
        raise RuntimeError(f"the {name} section's process exited with status {returncode}")
    return json.loads(result_path.read_text())  # type: ignore[no-any-return]


def _section_worker(spec_json: str, result_path: str) -> None:
    """Inside the fresh interpreter: run the section `spec_json` names, write its result."""
    spec = json.loads(spec_json)
    configure_logging(level="warning")  # before any MCPServer: it would log INFO on stderr
    standin = StandIn(prefix=tuple(spec["prefix"]), kind=spec["kind"])
    ctx = Context(standin=standin, workdir=Path(spec["workdir"]), smoke=spec["smoke"])
    module = importlib.import_module(f"benchmarks.{SECTIONS[spec['section']]}")
    if spec["section"] == "peers":
        result = module.run(ctx, raw_ms=spec["raw_ms"])
    elif spec["section"] == "cc_executor":
        result = module.run(ctx, peer=spec["cc_executor"])
    else:
        result = trio.run(module.run, ctx)
    Path(result_path).write_text(json.dumps(result))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = _selected(args.only, args.with_)
    stem = results_stem(names)
    # A run of some sections (``--only``) writes to a temporary folder; opt-in sections run
    # alone keep their own results file beside the committed ones; a full run (with or
    # without ``--with``) replaces latest.* and the README's block.
    partial = args.only is not None and stem == "latest"
    out = _out_dir(args.out, args.smoke, partial=partial)
    out.mkdir(parents=True, exist_ok=True)
    soft, _ = raise_open_file_limit()  # inherited by every section's process
    cc_executor = configured_path(args.cc_executor)
    started = time.perf_counter()
    results: dict[str, Any] = {}
    failed = False
    with tempfile.TemporaryDirectory(prefix="llminst-bench-work-") as folder:
        prefer = os.environ.get("LLMINST_BENCH_STANDIN", "c")
        standin = build_standin(Path(folder), prefer=prefer)
        ctx = Context(standin=standin, workdir=Path(folder), smoke=args.smoke)
        head = report.header(standin=ctx.standin.kind, smoke=args.smoke, sections=names)
        head["open files limit"] = str(soft)
        head["load average at start"] = _load()
        for name in names:
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            load = os.getloadavg()[0]
            try:
                section = _run_section(name, ctx, results, cc_executor)
            except Exception as exc:
                failed = True
                traceback.print_exc()
                section = {"title": name, "error": f"{type(exc).__name__}: {exc}"}
            section["elapsed_s"] = time.perf_counter() - t0
            section["load_at_start"] = load
            results[name] = section
            print(f"[bench] {name} done in {section['elapsed_s']:.1f} s", file=sys.stderr)
    head["total time"] = f"{time.perf_counter() - started:.0f} s"
    head["load average at end"] = _load()
    goals = report.targets(results) if stem == "latest" else []  # none for opt-in sections
    full = {"header": head, "targets": goals, "sections": results}
    chart = out / f"{stem}.png"
    try:
        has_chart = report.write_chart(chart, full)
    except ImportError as exc:  # matplotlib comes with the `bench` extra
        print(f"no chart: {exc}; pip install -e '.[bench]'", file=sys.stderr)
        has_chart, failed = False, True
    report.write_json(out / f"{stem}.json", full)
    report.write_markdown(out / f"{stem}.md", full, chart.name if has_chart else None)
    # A full run (every default section, with or without ``--with``) rewrites the README's block.
    if out.resolve() == DEFAULT_OUT and not failed and args.only is None:
        report.update_readme(DEFAULT_OUT.parent.parent / "README.md", full)
    _print_targets(full["targets"])
    print(f"results: {out / f'{stem}.md'}")
    return 1 if failed else 0


def _load() -> str:
    """The 1/5/15-minute load averages: other work on the machine skews every figure."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _print_targets(rows: list[dict[str, Any]]) -> None:
    for t in rows:
        value = t["measured"]
        measured = value is not None and not math.isnan(value)
        shown = f"{report.fmt(value)} {t['unit']}" if measured else "not measured"
        verdict = {None: "-", True: "met", False: "MISSED"}[t["met"]]
        context = f"; {t['raw baseline']}" if t["raw baseline"] else ""
        print(f"{verdict:7} {t['target']}: {shown} (goal {t['goal']}{context})")


if __name__ == "__main__":
    _section_worker(sys.argv[1], sys.argv[2])
