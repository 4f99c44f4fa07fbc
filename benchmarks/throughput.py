"""Throughput: MB/s of stand-in output through the supervisor vs a raw pipe read.

This section owns the bulk-output comparison. The stand-in writes BYTES of 64-byte text lines as
fast as the pipe takes them; ``raw`` reads the pipe with `receive_some(65536)` and counts bytes
(the floor the target is judged against); ``raw-text`` also decodes each chunk as UTF-8 and joins
the text at the end (the least any reader returning text must do, shown for reference);
``api-run`` is `Supervisor.run` (the whole text returned), ``api-stream`` iterates
`open_stream`'s chunks and counts them. `max_output_bytes` is raised above BYTES so nothing is
dropped. Runs are interleaved; MB is 10^6 bytes.
"""

from __future__ import annotations

import codecs
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import trio

from llminst import Supervisor, open_supervisor

from .common import Context, model, settings, table
from .stats import ratio, summarize

TITLE = "Throughput"


async def _raw(argv: Sequence[str]) -> int:
    proc = await trio.lowlevel.open_process(
        list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    size = 0
    while data := await proc.stdout.receive_some(65536):
        size += len(data)
    await proc.wait()
    await proc.stdout.aclose()
    return size


async def _raw_text(argv: Sequence[str]) -> int:
    """The least a reader returning text must do: read, decode UTF-8 per chunk, join."""
    proc = await trio.lowlevel.open_process(
        list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    parts = []
    while data := await proc.stdout.receive_some(65536):
        parts.append(decoder.decode(data))
    parts.append(decoder.decode(b"", final=True))
    await proc.wait()
    await proc.stdout.aclose()
    return len("".join(parts))


async def _run(supervisor: Supervisor) -> int:
    result = await supervisor.run("bench-bulk", "x", timeout=600)
    assert not result.truncated
    return len(result.output)


async def _stream(supervisor: Supervisor) -> int:
    size = 0
    async with supervisor.open_stream("bench-bulk", "x", timeout=600) as stream:
        async for chunk in stream:
            size += len(chunk)
    assert not stream.result.truncated
    return size


async def run(ctx: Context) -> dict[str, Any]:
    size, reps = ctx.pick((200_000_000, 5), (4_000_000, 1))
    bulk = ctx.standin.argv("bulk", size)
    specs = {"bench-bulk": model("bench-bulk", bulk)}
    rates: dict[str, list[float]] = {"raw": [], "raw-text": [], "api-run": [], "api-stream": []}
    async with open_supervisor(
        models=specs, settings=settings(max_output_bytes=2 * size)
    ) as supervisor:
        methods: dict[str, Callable[[], Awaitable[int]]] = {
            "raw": lambda: _raw([*bulk, "x"]),
            "raw-text": lambda: _raw_text([*bulk, "x"]),
            "api-run": lambda: _run(supervisor),
            "api-stream": lambda: _stream(supervisor),
        }
        for _ in range(reps):
            for name, call in methods.items():
                start = time.perf_counter()
                got = await call()
                elapsed = time.perf_counter() - start
                if got != size:
                    raise RuntimeError(f"{name}: {got} bytes received, {size} written")
                rates[name].append(size / elapsed / 1e6)
    stats = {name: summarize(values) for name, values in rates.items()}
    for s in stats.values():
        s["ratio"] = ratio(s["median"], stats["raw"]["median"])
    rows = [[name, s["n"], s["median"], s["min"], s["ratio"]] for name, s in stats.items()]
    return {
        "title": TITLE,
        "about": (
            f"{size / 1e6:g} MB of text per call; MB/s = bytes / wall time of the whole call "
            "(start to reaped). Higher is better; `min` is the slowest run; `x raw` is relative to "
            "the raw pipe read (raw-text: the same plus UTF-8 decoding and one join)."
        ),
        "tables": [table(["reader", "runs", "median MB/s", "min MB/s", "x raw"], rows)],
        "data": {**stats, "bytes": size},
    }
