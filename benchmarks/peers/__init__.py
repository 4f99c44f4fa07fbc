"""Peers on the same stand-in claude: llminst next to the tools a user would otherwise pick.

This package owns the peer comparison of the benchmarks. `measure_peers` runs, on one stand-in
`claude` CLI (`claude_standin`, which answers at once, so what is measured is each peer's own
cost per call: spawning, protocol, parsing, event loop), one after the other:

0. ``llminst (Python API)``: `Supervisor.run` with a spec like the built-in claude
   (``claude -p ... --output-format stream-json --verbose``, decoded as claude-stream-json);
1. ``claude-agent-sdk query()``: the official Python SDK with ``cli_path`` at the stand-in, which
   speaks the SDK's streaming-input control protocol;
2. ``cc_executor-style WebSocket``: the labelled baseline in `ws_executor` (a WebSocket JSON-RPC
   server that spawns the one-shot command per ``execute``), server in its own process.

Each peer runs in its own interpreter (``python -m benchmarks.peers.run_one NAME``, one JSON line
out) so imports, event loops and peak RSS do not mix. All three start the same executable: a copy
of the stand-in with a ``#!python -I -S`` line (`standin_executable`), because the SDK needs a
path it can execute. Every answer is checked against the prompt; a peer that is not installed,
fails or answers wrongly is reported with ``unavailable`` set and no numbers.
``python -m benchmarks.peers [--calls N]`` prints the comparison.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["PEERS", "measure_peers", "standin_executable"]

ROOT = Path(__file__).resolve().parent.parent.parent
STANDIN = Path(__file__).resolve().parent / "claude_standin.py"

# (key for run_one, the name reported)
PEERS: tuple[tuple[str, str], ...] = (
    ("llminst", "llminst (Python API)"),
    ("sdk", "claude-agent-sdk query()"),
    ("ws", "cc_executor-style WebSocket"),
)
_SHEBANG_MAX = 120  # older kernels cut the #! line at 127 bytes


def standin_executable(folder: Path) -> Path:
    """Write an executable ``claude`` into `folder` that runs the stand-in; return its path.

    The copy starts with ``#!<this python> -IS`` (no site, no user environment: the stand-in
    needs only the standard library). Where that line would not work (a long path, or one with
    whitespace) it is a ``/bin/sh`` script that execs the same command instead.
    """
    python = sys.executable
    target = folder / "claude"
    shebang = f"#!{python} -IS"
    if len(shebang) <= _SHEBANG_MAX and not any(c.isspace() for c in python):
        target.write_text(f"{shebang}\n{STANDIN.read_text()}")
    else:
        command = shlex.join([python, "-I", "-S", str(STANDIN)])
        target.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
    target.chmod(0o755)
    return target


def _entry(name: str, **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "unavailable": None,
        "per_call_ms": None,
        "rss_mb": None,
        "notes": "",
    }
    entry.update(fields)
    return entry


def _run_peer(key: str, name: str, calls: int, warmup: int, timeout_s: float) -> dict[str, Any]:
    argv = [
        sys.executable,
        "-m",
        "benchmarks.peers.run_one",
        key,
        "--calls",
        str(calls),
        "--warmup",
        str(warmup),
    ]
    # Its own process group, so a peer that hangs goes with everything it started (the
    # WebSocket server included) when the time is up.
    child = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = child.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        return _entry(name, unavailable=f"failed: no result within {timeout_s:.0f} s")
    report: dict[str, Any] | None = None
    for line in reversed(stdout.splitlines()):
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            report = parsed
            break
    if report is None:
        tail = (stderr or stdout).strip().splitlines()[-5:]
        detail = " | ".join(tail) or "no output"
        return _entry(name, unavailable=f"failed: exit status {child.returncode}: {detail}")
    entry = _entry(name, **{k: report.get(k) for k in ("unavailable", "per_call_ms", "rss_mb")})
    entry["notes"] = str(report.get("notes") or "")
    if entry["unavailable"] is None and not entry["per_call_ms"]:
        entry["unavailable"] = "failed: the peer reported no timings"
    if entry["unavailable"] is not None:
        entry["per_call_ms"] = entry["rss_mb"] = None
    return entry


def measure_peers(calls: int, smoke: bool = False) -> list[dict[str, Any]]:
    """Per-call wall times and peak RSS of each peer on the stand-in claude, in `PEERS` order.

    Each entry: ``name``; ``unavailable`` (None, or why there are no numbers: the package is not
    installed, the peer failed or answered wrongly); ``per_call_ms`` (`calls` sequential calls,
    after warm-up calls that are not counted: 2, or 1 with `smoke`); ``rss_mb`` (peak RSS in MiB
    of the process doing the work: the measuring interpreter for in-process peers, the server
    for the WebSocket baseline); ``notes`` (what exactly was measured).
    """
    if calls < 1:
        raise ValueError(f"calls must be at least 1, got {calls}")
    warmup = 1 if smoke else 2
    timeout_s = 120.0 + 2.0 * (calls + warmup)
    return [_run_peer(key, name, calls, warmup, timeout_s) for key, name in PEERS]
