"""The peers section: llminst next to other executors, through `benchmarks.peers.measure_peers`.

This module owns only the integration and the table; `benchmarks.peers` (maintained separately)
owns running the peers. Its first entry is llminst on the same stand-in claude CLI, so each peer
is shown as a ratio to llminst and to a raw baseline: `trio.lowlevel.open_process` + read + wait
of that same stand-in with the argv llminst gives it, measured here in the same run (falling back
to the harness's own raw per-call median, on its own stand-in, when the peers' stand-in cannot
be built). If the peers package is missing or fails, the section says so and carries no numbers.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import trio

from llminst import BUILTIN_MODELS
from llminst._core.streamjson import prompt_input

from .common import Context, table
from .stats import ratio, summarize

TITLE = "Peers"


async def _raw_on_peer_standin(folder: Path, calls: int) -> list[float]:
    from benchmarks.peers import standin_executable

    claude = standin_executable(folder)
    argv = [str(claude), *BUILTIN_MODELS["claude"].command[1:]]
    stdin = prompt_input("hi")  # llminst's launch: the prompt as a stream-json user message
    for _ in range(2):
        if b'"result"' not in await _raw_call_with_stdin(argv, stdin):
            raise RuntimeError("the peers' stand-in claude gave no result line")
    times = []
    for _ in range(calls):
        start = trio.current_time()
        await _raw_call_with_stdin(argv, stdin)
        times.append((trio.current_time() - start) * 1000)
    return times


async def _raw_call_with_stdin(argv: list[str], stdin: bytes) -> bytes:
    """The floor for a CLI that reads its prompt on stdin: start, write, read to EOF, wait."""
    done = await trio.run_process(argv, stdin=stdin, capture_stdout=True, check=False)
    return done.stdout


def _unavailable(reason: str) -> dict[str, Any]:
    return {
        "title": TITLE,
        "about": f"peers: not available ({reason})",
        "tables": [],
        "data": {"available": False, "reason": reason, "peers": []},
    }


def run(ctx: Context, *, raw_ms: float | None) -> dict[str, Any]:
    """Synchronous: `measure_peers` runs each peer in its own subprocess and waits."""
    try:
        from benchmarks.peers import measure_peers
    except ImportError as exc:
        return _unavailable(f"{type(exc).__name__}: {exc}")
    calls = ctx.pick(30, 3)
    try:
        peers = measure_peers(calls, ctx.smoke)
    except Exception as exc:
        traceback.print_exc()
        return _unavailable(f"measure_peers failed: {type(exc).__name__}: {exc}")
    folder = ctx.workdir / "peers-raw"
    folder.mkdir(exist_ok=True)
    try:
        raw = summarize(trio.run(_raw_on_peer_standin, folder, calls))
        raw_note = "raw trio open_process + read + wait of the peers' stand-in claude"
    except Exception as exc:
        raw = summarize([raw_ms] if raw_ms is not None else [])
        raw_note = f"the harness's raw per-call median on its own stand-in ({exc})"
    rows = [["raw (floor)", raw["n"], raw["median"], raw["p95"], None, None, 1.0, raw_note]]
    reference = None
    for peer in peers:
        times = peer.get("per_call_ms") or []
        s = summarize(times)
        if reference is None:
            reference = s["median"]
        peer["summary"] = s
        if peer.get("unavailable"):
            note = f"not available: {peer['unavailable']}"
        else:
            note = peer.get("notes", "")
        rows.append(
            [
                peer["name"],
                s["n"],
                s["median"],
                s["p95"],
                peer.get("rss_mb"),
                ratio(s["median"], reference),
                ratio(s["median"], raw["median"]),
                note,
            ]
        )
    first = peers[0]["name"] if peers else "the first peer"
    return {
        "title": TITLE,
        "about": (
            f"Per-call wall time (ms) on one stand-in claude CLI, {calls} sequential calls per "
            f"peer after warm-up, each peer in its own process (`benchmarks.peers`). "
            f"`x llminst` is relative to {first}; `x raw` to the raw floor below."
        ),
        "tables": [
            table(
                [
                    "peer",
                    "calls",
                    "median ms",
                    "p95 ms",
                    "peak RSS MB",
                    "x llminst",
                    "x raw",
                    "notes",
                ],
                rows,
            )
        ],
        "data": {"available": True, "raw": raw, "raw_note": raw_note, "peers": peers},
    }
