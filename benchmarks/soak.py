"""Soak: a real `llminst serve` under a steady mix of calls, checked for leaks at the end.

It starts ``llminst serve`` over stdio (the SDK client drives it, as an MCP host would) and for
``--duration`` seconds keeps ``--workers`` calls in flight, each picked at random from a mix:
short answers, streamed answers (progress notifications checked against the result), 256 KiB
streams of numbered lines, JSON mode, a rate limit that clears on the retry (the built-in
``echo`` model's ``[[echo:rate-limit=1]]``), a CLI that fails, a server-side timeout, and slow
calls. A share of the calls is cancelled by the client at a random moment (a cancel scope around
``call_tool``; the server gets ``notifications/cancelled`` and kills the call's process tree).
Every second it samples the server's RSS, open descriptors and threads from /proc.

At the end it waits for the server to go idle and prints a summary; it exits 1 when:

- any answer was wrong (text, progress, JSON, error kind) or a call hung;
- RSS grew: after a warm-up (the first 20 % of the samples), the median of the last third of the
  samples is above the median of the first third by more than 10 % plus 8 MB;
- the server's descriptors are not back to their count before the load once it is idle;
- a process the server started is still alive once it is idle, or after the server exited.

Run: ``python -m benchmarks.soak --duration SECONDS`` (``tox -e soak`` runs it for 180 s). Linux
only (it reads /proc).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import trio
from mcp import Client, StdioServerParameters

from .procs import (
    child_with,
    cpu_seconds,
    descendants,
    fd_count,
    is_alive,
    memory_kb,
    processes_with_env,
    thread_count,
)

# Every process the server starts inherits this variable (it is in the server's environment),
# so a leftover is found by it even after it was re-parented.
MARKER_VAR = "LLMINST_SOAK_MARKER"

WARMUP_FRACTION = 0.2
RSS_SLACK = 0.10
RSS_SLACK_MB = 8.0

# A stand-in CLI that streams numbered lines: `TAG LINES [CHUNK_LINES]` (the prompt) writes LINES
# lines "TAG 000000042\n" (16 bytes with a 5-character tag), CHUNK_LINES (default 4096) at a time
# with a short pause between chunks, so the output arrives in pieces as a real model's would.
STREAMER = """\
import sys, time
tag, lines, *rest = sys.argv[1].split()
lines = int(lines)
chunk = int(rest[0]) if rest else 4096
out = sys.stdout.buffer
for start in range(0, lines, chunk):
    out.write("".join(f"{tag} {n:09d}\\n" for n in range(start, min(lines, start + chunk))).encode())
    out.flush()
    time.sleep(0.01)
"""


def streamed_text(tag: str, lines: int) -> str:
    """What STREAMER writes for `tag` and `lines`."""
    return "".join(f"{tag} {n:09d}\n" for n in range(lines))


# --------------------------------------------------------------------------------------------
# The verdict


@dataclass
class Sample:
    t: float  # seconds since the load started
    rss_kb: int
    fds: int
    threads: int


def median_rss_mb(samples: Sequence[Sample]) -> float:
    return statistics.median(s.rss_kb for s in samples) / 1024


def judge(
    samples: Sequence[Sample],
    *,
    baseline_fds: int,
    idle_fds: int,
    leftovers: Sequence[str] = (),
    wrong: int = 0,
    warmup_fraction: float = WARMUP_FRACTION,
    rss_slack: float = RSS_SLACK,
    rss_slack_mb: float = RSS_SLACK_MB,
) -> list[str]:
    """Why the run is not clean (an empty list: it is).

    Args:
        samples: the samples taken while the load ran, in order.
        baseline_fds: the server's descriptors before the load.
        idle_fds: its descriptors once idle after the load.
        leftovers: descriptions of processes still alive that should not be.
        wrong: calls whose answer was wrong or that hung.
    """
    problems = []
    if wrong:
        problems.append(f"{wrong} call(s) answered wrongly or hung")
    steady = list(samples[math.ceil(len(samples) * warmup_fraction) :])
    if len(steady) < 3:
        problems.append(f"too few samples after warm-up to judge RSS ({len(steady)})")
    else:
        third = max(1, len(steady) // 3)
        first, last = median_rss_mb(steady[:third]), median_rss_mb(steady[-third:])
        limit = first * (1 + rss_slack) + rss_slack_mb
        if last > limit:
            problems.append(
                f"RSS grew: median {last:.1f} MB in the last third vs {first:.1f} MB in the "
                f"first third after warm-up (limit {limit:.1f} MB)"
            )
    if idle_fds != baseline_fds:
        problems.append(f"descriptors not back to baseline when idle: {idle_fds} vs {baseline_fds}")
    if leftovers:
        problems.append(f"processes left: {', '.join(leftovers)}")
    return problems


# --------------------------------------------------------------------------------------------
# The mix of calls


class Wrong(Exception):
    """A call's answer is not what the stand-in must have produced."""


def _text(result: Any) -> str:
    return "".join(c.text for c in result.content if c.type == "text")


class Progress:
    """Collects one call's progress notifications (the SDK may deliver them out of order)."""

    def __init__(self) -> None:
        self.notifications: list[tuple[float, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.notifications.append((progress, message))

    def text(self) -> str:
        return "".join(m for _, m in sorted(self.notifications) if m is not None)

    async def check(self, expected: str) -> None:
        """The notifications spell `expected`, with no counter missing (waits for stragglers)."""
        with trio.move_on_after(5):
            while len(self.text()) < len(expected):  # noqa: ASYNC110 - the client's tasks append
                await trio.sleep(0.005)
        text = self.text()
        if text != expected:
            raise Wrong(
                f"progress text differs from the answer: {first_difference(text, expected)}"
            )
        counters = [p for p, _ in sorted(self.notifications)]
        if counters != list(range(1, len(counters) + 1)):
            raise Wrong(f"progress counters have gaps: {counters[:20]}...")


def first_difference(actual: str, expected: str) -> str:
    """Where two long texts first differ, briefly."""
    if actual == expected:
        return "identical"
    at = next(
        (i for i, (a, b) in enumerate(zip(actual, expected, strict=False)) if a != b),
        min(len(actual), len(expected)),
    )
    return (
        f"lengths {len(actual)} vs {len(expected)}, first difference at {at}: "
        f"{actual[max(0, at - 20) : at + 20]!r} vs {expected[max(0, at - 20) : at + 20]!r}"
    )


@dataclass
class Mix:
    """The calls one soak run makes; each kind is an async function (client, tag, rng) -> outcome.

    Outcomes: ``ok`` (the right answer) or ``expected_error`` (the right error); a wrong answer
    raises `Wrong`.
    """

    kinds: dict[str, tuple[int, Callable[[Client, str, random.Random], Awaitable[str]]]] = field(
        default_factory=dict
    )

    def pick(self, rng: random.Random) -> str:
        names = list(self.kinds)
        return rng.choices(names, weights=[self.kinds[n][0] for n in names])[0]


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise Wrong(what)


async def short(client: Client, tag: str, rng: random.Random) -> str:
    prompt = f"soak {tag} short"
    result = await client.call_tool(
        "execute_llm", {"model": "echo", "prompt": prompt, "stream": False}
    )
    _expect(not result.is_error and _text(result) == prompt, f"short: {_text(result)[:200]!r}")
    return "ok"


async def streamed(client: Client, tag: str, rng: random.Random) -> str:
    words = " ".join(f"{tag}-w{i}" for i in range(rng.randint(5, 60)))
    prompt = f"[[echo:delay=0.002]] {words}"
    progress = Progress()
    result = await client.call_tool(
        "execute_llm", {"model": "echo", "prompt": prompt}, progress_callback=progress
    )
    _expect(not result.is_error and _text(result) == words, f"streamed: {_text(result)[:200]!r}")
    await progress.check(words)
    return "ok"


async def big_stream(client: Client, tag: str, rng: random.Random) -> str:
    lines = 16384  # about 300 KB
    progress = Progress()
    result = await client.call_tool(
        "stream_llm",
        {"model": "streamer", "prompt": f"{tag} {lines} 2048"},
        progress_callback=progress,
    )
    expected = streamed_text(tag, lines)
    _expect(not result.is_error, f"big stream: {_text(result)[:200]!r}")
    answer = await _whole_answer(client, result)
    _expect(answer == expected, f"big stream: {first_difference(answer, expected)}")
    await progress.check(expected)
    return "ok"


async def _whole_answer(client: Client, result: Any) -> str:
    """The answer of a call result: its text, or, when the output was over the server's result
    cap, the first piece it carries completed from the call's output resource."""
    data = result.structured_content or {}
    if not data.get("result_truncated"):
        return _text(result)
    piece = data["output"]
    _expect(_text(result).startswith(piece), "big stream: the text does not start with the piece")
    stored = await client.read_resource(f"llminst://calls/{data['call_id']}/output")
    whole = "".join(getattr(c, "text", "") for c in stored.contents)
    _expect(whole.startswith(piece), "big stream: the piece is not the output's start")
    return whole


async def json_mode(client: Client, tag: str, rng: random.Random) -> str:
    result = await client.call_tool(
        "execute_llm", {"model": "echo", "prompt": f"What is {tag}?", "json_mode": True}
    )
    parsed = (result.structured_content or {}).get("parsed_json")
    _expect(
        not result.is_error and isinstance(parsed, dict) and set(parsed) == {"question", "answer"},
        f"json: {_text(result)[:200]!r}",
    )
    return "ok"


async def rate_limited(client: Client, tag: str, rng: random.Random) -> str:
    prompt = f"[[echo:rate-limit=1]] soak {tag} limited once"
    result = await client.call_tool("execute_llm", {"model": "echo", "prompt": prompt})
    data = result.structured_content or {}
    _expect(
        not result.is_error
        and _text(result) == f"soak {tag} limited once"
        and data.get("attempts") == 2,
        f"rate limited: attempts {data.get('attempts')}, {_text(result)[:200]!r}",
    )
    return "ok"


async def failing(client: Client, tag: str, rng: random.Random) -> str:
    result = await client.call_tool("execute_llm", {"model": "failing", "prompt": tag})
    text = _text(result)
    _expect(
        result.is_error and text.startswith("process_failed: ") and "on purpose" in text,
        f"failing: {text[:200]!r}",
    )
    return "expected_error"


async def timed_out(client: Client, tag: str, rng: random.Random) -> str:
    result = await client.call_tool(
        "execute_llm", {"model": "sleeper", "prompt": f"5 {tag}", "timeout": 0.3}
    )
    _expect(
        result.is_error and _text(result).startswith("timeout: "), f"timeout: {_text(result)!r}"
    )
    return "expected_error"


async def slow(client: Client, tag: str, rng: random.Random) -> str:
    seconds = rng.choice(["0.2", "0.5", "1"])
    result = await client.call_tool(
        "execute_llm", {"model": "sleeper", "prompt": f"{seconds} {tag}"}
    )
    expected = f"slept:{seconds} {tag}"
    _expect(not result.is_error and _text(result) == expected, f"slow: {_text(result)[:200]!r}")
    return "ok"


def default_mix() -> Mix:
    return Mix(
        {
            "short": (6, short),
            "streamed": (4, streamed),
            "big_stream": (2, big_stream),
            "json": (2, json_mode),
            "rate_limited": (1, rate_limited),
            "failing": (2, failing),
            "timeout": (1, timed_out),
            "slow": (3, slow),
        }
    )


def config_text(settings: dict[str, Any] | None = None) -> str:
    """The config file: the stand-in models the mix uses (echo is built in)."""
    models = {
        "streamer": [sys.executable, "-I", "-S", "-c", STREAMER],
        "sleeper": ["/bin/sh", "-c", 'sleep "${0%% *}"; printf "slept:%s" "$0"'],
        "failing": ["/bin/sh", "-c", 'echo "soak: failing on purpose ($0)" >&2; exit 3'],
    }
    lines = ["[settings]", "default_max_concurrency = 64"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in (settings or {}).items()]
    for name, command in models.items():
        lines += ["", f"[models.{name}]", f"command = {json.dumps(command)}"]
        lines.append('timeout_category = "quick"')
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# The run


@dataclass
class Report:
    duration_s: float
    seed: int
    calls: dict[str, int]  # "kind/outcome" -> count
    wrong_examples: list[str]
    samples: list[Sample]
    baseline_fds: int
    idle_fds: int
    idle_rss_kb: int
    peak_rss_kb: int
    server_cpu_s: float
    leftovers: list[str]
    problems: list[str]

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def by_outcome(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for key, n in self.calls.items():
            counts[key.split("/")[1]] += n
        return counts

    def summary(self) -> str:
        rss = [s.rss_kb / 1024 for s in self.samples]
        fds = [s.fds for s in self.samples]
        threads = [s.threads for s in self.samples]
        outcomes = ", ".join(f"{k}={v}" for k, v in sorted(self.by_outcome().items()))
        lines = [
            f"soak: {self.total} calls in {self.duration_s:.0f} s ({self.total / self.duration_s:.1f}/s, "
            f"seed {self.seed}): {outcomes}",
            "  by kind: " + ", ".join(f"{k}={v}" for k, v in sorted(self.calls.items())),
            f"  server RSS MB: first {rss[0]:.1f}, last {rss[-1]:.1f}, max {max(rss):.1f}, "
            f"idle {self.idle_rss_kb / 1024:.1f}, peak (VmHWM) {self.peak_rss_kb / 1024:.1f}",
            f"  server fds: baseline {self.baseline_fds}, first {fds[0]}, last {fds[-1]}, "
            f"max {max(fds)}, idle {self.idle_fds}; threads max {max(threads)}; "
            f"server CPU {self.server_cpu_s:.1f} s",
        ]
        lines += [f"  wrong: {w}" for w in self.wrong_examples]
        if self.problems:
            lines.append("soak: FAIL: " + "; ".join(self.problems))
        else:
            lines.append("soak: PASS (RSS flat, descriptors back to baseline, no process left)")
        return "\n".join(lines)


async def soak(
    duration_s: float,
    *,
    workers: int = 8,
    seed: int | None = None,
    cancel_rate: float = 0.2,
    settle_s: float = 10.0,
    mix: Mix | None = None,
) -> Report:
    seed = random.randrange(1 << 32) if seed is None else seed
    rng = random.Random(seed)
    mix = mix or default_mix()
    marker = uuid.uuid4().hex
    calls: Counter[str] = Counter()
    wrong_examples: list[str] = []
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="llminst-soak-") as folder:
        config = Path(folder) / "soak.toml"
        config.write_text(config_text())
        params = StdioServerParameters(
            command=sys.executable,
            args=[
                *("-m", "llminst.cli", "--config", str(config), "serve"),
                *("--store", str(Path(folder) / "llminst.sqlite3")),
            ],
            env={
                MARKER_VAR: marker,
                "LLMINST_ECHO_STATE_DIR": str(Path(folder) / "echo-state"),
            },
        )
        async with Client(params) as client:
            server = child_with(str(config))
            await client.call_tool("execute_llm", {"model": "echo", "prompt": "warm up"})
            baseline_fds = fd_count(server)
            cpu_before = cpu_seconds(server)
            start = trio.current_time()
            deadline = start + duration_s

            async def sampler() -> None:
                while True:
                    samples.append(
                        Sample(
                            t=round(trio.current_time() - start, 3),
                            rss_kb=memory_kb(server)["VmRSS"],
                            fds=fd_count(server),
                            threads=thread_count(server),
                        )
                    )
                    await trio.sleep(1.0)

            async def worker(number: int) -> None:
                worker_rng = random.Random(rng.random())
                count = 0
                while trio.current_time() < deadline:
                    count += 1
                    tag = f"w{number}c{count}"
                    kind = mix.pick(worker_rng)
                    outcome = await _one(client, mix, kind, tag, worker_rng, cancel_rate)
                    calls[f"{kind}/{outcome.split(':', 1)[0]}"] += 1
                    if outcome.startswith("wrong") and len(wrong_examples) < 5:
                        wrong_examples.append(f"{kind} {tag}: {outcome}")

            async with trio.open_nursery() as nursery:
                nursery.start_soon(sampler)
                async with trio.open_nursery() as load:
                    for number in range(workers):
                        load.start_soon(worker, number)
                nursery.cancel_scope.cancel()
            duration = trio.current_time() - start
            server_cpu = cpu_seconds(server) - cpu_before

            # Idle: every call answered; the server's descriptors and children must go back.
            leftovers: list[str] = []
            with trio.move_on_after(settle_s):
                while fd_count(server) != baseline_fds or _leftovers(server, marker):  # noqa: ASYNC110
                    await trio.sleep(0.1)
            idle_fds = fd_count(server)
            memory = memory_kb(server)
            leftovers += _leftovers(server, marker)
        # The client closed stdin: the server has exited, and so must everything it started.
        with trio.move_on_after(settle_s):
            while is_alive(server) or processes_with_env(MARKER_VAR, marker):  # noqa: ASYNC110
                await trio.sleep(0.1)
        if is_alive(server):
            leftovers.append(f"the server {server} after its client closed")
        leftovers += [
            f"{p} (after the server exited)" for p in processes_with_env(MARKER_VAR, marker)
        ]
    wrong = sum(n for key, n in calls.items() if key.endswith("/wrong"))
    problems = judge(
        samples, baseline_fds=baseline_fds, idle_fds=idle_fds, leftovers=leftovers, wrong=wrong
    )
    return Report(
        duration_s=duration,
        seed=seed,
        calls=dict(calls),
        wrong_examples=wrong_examples,
        samples=samples,
        baseline_fds=baseline_fds,
        idle_fds=idle_fds,
        idle_rss_kb=memory["VmRSS"],
        peak_rss_kb=memory["VmHWM"],
        server_cpu_s=server_cpu,
        leftovers=leftovers,
        problems=problems,
    )


def _leftovers(server: int, marker: str) -> list[str]:
    """The server's descendants (zombies too: it must reap them) and marked processes."""
    found = [f"{pid} ({state}, child of the server)" for pid, state in descendants(server)]
    found += [
        f"{pid} (marked)"
        for pid in processes_with_env(MARKER_VAR, marker, exclude=[server])
        if not any(f"{pid} " in f for f in found)
    ]
    return found


async def _one(
    client: Client, mix: Mix, kind: str, tag: str, rng: random.Random, cancel_rate: float
) -> str:
    """Run one call of `kind`; maybe cancel it at a random moment. Returns its outcome."""
    # Most calls take 50-500 ms: cancel early enough that most of these land mid-call.
    cancel_after = rng.uniform(0.0, 0.6) if rng.random() < cancel_rate else math.inf
    run = mix.kinds[kind][1]
    try:
        with trio.move_on_after(60) as hung, trio.move_on_after(cancel_after) as cancelled:
            return await run(client, tag, rng)
    except Wrong as exc:
        return f"wrong: {exc}"
    except Exception as exc:  # a protocol error for this call (a dead server fails them all)
        return f"wrong: {type(exc).__name__}: {exc}"
    if cancelled.cancelled_caught:
        return "cancelled"
    assert hung.cancelled_caught
    return "wrong: no answer within 60 s"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (60)")
    parser.add_argument("--workers", type=int, default=8, help="calls kept in flight (8)")
    parser.add_argument("--seed", type=int, help="seed for the mix and cancellations")
    parser.add_argument(
        "--cancel-rate", type=float, default=0.2, help="share of calls cancelled (0.2)"
    )
    parser.add_argument("--report", type=Path, help="also write the report and samples as JSON")
    args = parser.parse_args(argv)
    started = time.monotonic()
    report = trio.run(
        functools.partial(
            soak, args.duration, workers=args.workers, seed=args.seed, cancel_rate=args.cancel_rate
        )
    )
    print(report.summary())
    print(f"soak: wall time {time.monotonic() - started:.1f} s")
    if args.report:
        data = asdict(report)
        args.report.write_text(json.dumps(data, indent=1))
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
