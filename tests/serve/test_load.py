"""Load: many concurrent calls through a real `llminst serve` over stdio.

The server runs as a subprocess (the in-memory client would measure this test process) and its
memory, descriptors and children are read from /proc. The figures are printed on a line starting
with ``load:`` (shown without ``-s``) and recorded as properties for the JUnit XML. Wall-time
bounds here are loose; speed targets belong to the benchmarks.
"""

from __future__ import annotations

import resource
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from mcp import Client, StdioServerParameters

from ..support.config import write_config
from ..support.procs import (
    child_with,
    descendants,
    fd_count,
    memory_kb,
    processes_with_env,
    thread_count,
)
from ..support.streamer import STREAMER, first_difference, streamed_text
from ..support.tools import call_fields, text_of

# Every process the server starts inherits this variable (it is in the server's environment),
# so a leftover is found by it even after it was re-parented.
MARKER_VAR = "LLMINST_LOAD_MARKER"
CALLS = 1000
STREAMS = 100
STREAM_LINES = 65536  # 16-byte lines: 1 MiB per call
# The stand-in: `sh -c SCRIPT PROMPT` runs SCRIPT with the prompt as $0 (llminst appends it).
SLEEPER = ["/bin/sh", "-c", "sleep 1; printf 'answer:%s' \"$0\""]


def _write_config(tmp_path: Path, name: str, command: list[str], max_concurrency: int) -> Path:
    model = {"command": command, "max_concurrency": max_concurrency, "timeout_category": "quick"}
    return write_config(
        tmp_path / f"{name}.toml", models={name: model}, settings={"grace_period_s": 1.0}
    )


@asynccontextmanager
async def serving(config: Path, marker: str) -> AsyncIterator[tuple[Client, int]]:
    """A real `llminst serve` over stdio, and its PID. Every process it starts inherits
    MARKER_VAR=marker, so leftovers are found even after they were re-parented."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "llminst.cli", "--config", str(config), "serve"],
        env={MARKER_VAR: marker},
    )
    async with Client(params) as client:
        yield client, child_with(str(config))


async def _leftovers(server: int, marker: str, *, within_s: float = 5.0) -> list[str]:
    """What is still below the server (zombies too: it reaps its own) or carries the marker,
    after a bounded wait for it to go."""

    def found() -> list[str]:
        below = [f"{pid} ({state})" for pid, state in descendants(server)]
        marked = [
            f"{pid} (marked)" for pid in processes_with_env(MARKER_VAR, marker, exclude=[server])
        ]
        return below + marked

    with trio.move_on_after(within_s):
        while found():  # noqa: ASYNC110 - other processes' state: polling /proc is the only way
            await trio.sleep(0.02)
    return found()


async def _settled_fds(server: int, baseline: int, *, within_s: float = 5.0) -> int:
    with trio.move_on_after(within_s):
        while fd_count(server) != baseline:  # noqa: ASYNC110
            await trio.sleep(0.02)
    return fd_count(server)


@pytest.fixture
def fd_limit() -> Iterator[Callable[[int], None]]:
    """Start the server with the common soft RLIMIT_NOFILE of 1,024 (it inherits ours), so the
    test proves `llminst serve` raises its own; skips if the hard limit is too low. Restored."""
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)

    def ensure(needed: int) -> None:
        soft, hard = saved
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {needed} descriptors needed")
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 1024), hard))

    yield ensure
    resource.setrlimit(resource.RLIMIT_NOFILE, saved)


class _Peaks:
    """The server's descriptors and threads, sampled while the load runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.fds = 0
        self.threads = 0

    async def run(self) -> None:
        while True:
            self.fds = max(self.fds, fd_count(self.pid))
            self.threads = max(self.threads, thread_count(self.pid))
            await trio.sleep(0.05)


@pytest.mark.slow
async def test_1000_concurrent_execute_llm_calls(
    tmp_path: Path, fd_limit: Callable[[int], None], report: Callable[..., None]
) -> None:
    """1,000 concurrent calls of a CLI that sleeps 1 s: all right, the server's memory per call
    is measured, its descriptors go back to baseline and no stand-in is left."""
    # A running call holds 2 pipe ends (stdout, stderr); a spawn briefly holds ~7 more (the
    # child's ends, /dev/null, the exec-error pipe). With the usual soft limit of 1024 the
    # server runs out near 350 concurrent calls (EMFILE: the calls fail as process_failed).
    fd_limit(4 * CALLS + 256)
    marker = uuid.uuid4().hex
    config = _write_config(tmp_path, "sleeper", SLEEPER, max_concurrency=CALLS)
    async with serving(config, marker) as (client, server):
        before = memory_kb(server)
        fds_before = fd_count(server)
        peaks = _Peaks(server)
        answers: dict[int, Any] = {}

        async def call(i: int) -> None:
            answers[i] = await client.call_tool(
                "execute_llm", {"model": "sleeper", "prompt": f"call-{i:04d}"}
            )

        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(peaks.run)
            async with trio.open_nursery() as calls:
                for i in range(CALLS):
                    calls.start_soon(call, i)
            nursery.cancel_scope.cancel()
        wall = time.perf_counter() - start
        after = memory_kb(server)
        fds_after = await _settled_fds(server, fds_before)
        left = await _leftovers(server, marker)

    per_call_kb = (after["VmHWM"] - before["VmRSS"]) / CALLS
    report(
        f"load: {CALLS} calls in {wall:.2f} s, server peak RSS {after['VmHWM'] / 1024:.1f} MB, "
        f"{per_call_kb:.0f} KB/call (RSS before {before['VmRSS'] / 1024:.1f} MB, after "
        f"{after['VmRSS'] / 1024:.1f} MB; fds before {fds_before}, peak {peaks.fds}, after "
        f"{fds_after}; threads peak {peaks.threads})",
        wall_s=round(wall, 3),
        peak_rss_kb=after["VmHWM"],
        rss_before_kb=before["VmRSS"],
        rss_after_kb=after["VmRSS"],
        kb_per_call=round(per_call_kb, 1),
        fds_before=fds_before,
        fds_peak=peaks.fds,
        fds_after=fds_after,
    )
    wrong = [
        (i, text_of(r)[:200])
        for i, r in sorted(answers.items())
        if r.is_error
        or text_of(r) != f"answer:call-{i:04d}"
        or r.structured_content["output"] != f"answer:call-{i:04d}"
    ]
    assert len(answers) == CALLS
    assert not wrong, f"{len(wrong)} of {CALLS} calls failed or answered wrongly, e.g. {wrong[:3]}"
    assert wall < 60
    assert fds_after == fds_before
    assert not left, f"left behind: {left}"


async def answer_of(client: Any, result: Any, expected: str, *, whole: bool) -> str:
    """What a stream_llm result answers. 1 MiB is over the result cap: the result carries the
    output's first piece, which must start `expected` (else the text is returned, to show the
    difference); with `whole`, the output is read whole from the call's output resource."""
    data = call_fields(result.structured_content)
    if not data["result_truncated"]:
        return text_of(result)
    piece = data["output"]
    if not (piece and text_of(result).startswith(piece) and expected.startswith(piece)):
        return text_of(result)
    if not whole:
        return expected
    stored = await client.read_resource(f"llminst://calls/{data['call_id']}/output")
    return "".join(content.text for content in stored.contents)


@pytest.mark.slow
async def test_100_concurrent_1mb_streams(tmp_path: Path, report: Callable[..., None]) -> None:
    """100 concurrent stream_llm calls of 1 MiB each: every call's progress text is complete
    and in order, every result starts it (cut to the result cap), and every 20th call's output
    read back from the store is whole."""
    marker = uuid.uuid4().hex
    command = [sys.executable, "-I", "-S", "-c", STREAMER]
    config = _write_config(tmp_path, "streamer", command, max_concurrency=STREAMS)
    async with serving(config, marker) as (client, server):
        before = memory_kb(server)
        fds_before = fd_count(server)
        problems: list[str] = []

        async def call(i: int) -> None:
            tag = f"s{i:04d}"
            expected = streamed_text(tag, STREAM_LINES)
            notifications: list[tuple[float, str | None]] = []

            async def on_progress(
                progress: float, total: float | None, message: str | None
            ) -> None:
                notifications.append((progress, message))

            def progress_text() -> str:
                return "".join(m for _, m in sorted(notifications) if m is not None)

            result = await client.call_tool(
                "stream_llm",
                {"model": "streamer", "prompt": f"{tag} {STREAM_LINES}"},
                progress_callback=on_progress,
            )
            # The SDK runs each progress callback in a task of its own: wait for stragglers.
            with trio.move_on_after(10):
                while len(progress_text()) < len(expected):  # noqa: ASYNC110
                    await trio.sleep(0.01)
            counters = [p for p, _ in sorted(notifications)]
            if result.is_error:
                problems.append(f"{tag}: {text_of(result)[:300]}")
            elif (
                answer := await answer_of(client, result, expected, whole=i % 20 == 0)
            ) != expected:
                problems.append(f"{tag} result: {first_difference(answer, expected)}")
            elif progress_text() != expected:
                problems.append(f"{tag} progress: {first_difference(progress_text(), expected)}")
            elif counters != list(range(1, len(counters) + 1)):
                problems.append(f"{tag} progress counters have gaps: {counters}")

        start = time.perf_counter()
        async with trio.open_nursery() as calls:
            for i in range(STREAMS):
                calls.start_soon(call, i)
        wall = time.perf_counter() - start
        after = memory_kb(server)
        fds_after = await _settled_fds(server, fds_before)
        left = await _leftovers(server, marker)

    report(
        f"load: {STREAMS} streams of 1 MiB in {wall:.2f} s, server peak RSS "
        f"{after['VmHWM'] / 1024:.1f} MB (before {before['VmRSS'] / 1024:.1f} MB, after "
        f"{after['VmRSS'] / 1024:.1f} MB; fds before {fds_before}, after {fds_after})",
        stream_wall_s=round(wall, 3),
        stream_peak_rss_kb=after["VmHWM"],
    )
    assert not problems, f"{len(problems)} of {STREAMS} streams are wrong: {problems[:3]}"
    assert wall < 60
    assert fds_after == fds_before
    assert not left, f"left behind: {left}"
