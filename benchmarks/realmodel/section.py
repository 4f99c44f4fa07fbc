"""The ``realmodel`` benchmark section: the real CLIs against a real model, direct vs llminst.

This section owns the real-model comparison (opt-in: ``python -m benchmarks --only realmodel``,
or ``tox -e realmodel-bench``). For each CLI (claude, codex, the openai CLI, llm) pointed at
llama.cpp's `llama-server` serving SmolLM2-135M on 127.0.0.1, the arms alternate call by call:

- ``direct``: the command line llminst would run (argv, environment, stdin), started with
  ``trio.run_process``: no supervisor;
- ``library``: `Supervisor.run`, calls recorded in a SQLite store as ``llminst run`` does;
- ``mcp-stdio``: ``execute_llm`` on one `llminst serve` stdio session per CLI (the SDK client);
- ``agent-sdk`` (claude only): claude-agent-sdk's ``query()`` on asyncio in a worker thread,
  with the same bare flags.

``LLMINST_REALMODEL_CALLS`` sets the calls per arm (default 15; smoke 2), ``LLMINST_REALMODEL_CLIS``
the CLIs (default all; codex's ~4,600-token request costs a CPU ~1 min a call under load). One warm-up round
per arm is not counted (the first call of a CLI pays the disk cache, the SDK's first ~9 s).
Without a built server, the CLIs or the SDK, the section (or arm)
is skipped with the reason in the report; it never builds or installs anything.

Bounded: every call of every arm ends within `CALL_TIMEOUT_S` and the calls together within
``LLMINST_REALMODEL_BUDGET_S`` (default `BUDGET_S`); either limit fails the section with a
`RealModelError` naming the CLI, the arm and the round, never stalling the run. Answers are
capped at `MAX_ANSWER_TOKENS` (see clis.py); the report gives each arm's tokens per call and
each CLI's wall time.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
from mcp import Client, StdioServerParameters

from llminst import open_supervisor
from llminst._core.command import build_invocation
from llminst.configfile import load_config, resolve_models
from llminst.store import open_store

from ..common import Context, table
from ..stats import ratio, summarize
from .clis import (
    CLAUDE_SYSTEM_PROMPT,
    REAL_MODEL_CLIS,
    cli_env,
    missing_clis,
    realcli_bin,
    write_codex_config,
    write_llminst_config,
)
from .llama import MAX_ANSWER_TOKENS, LlamaServer, run_llama_server, tokens_predicted
from .setup import Paths, cache_dir

TITLE = "A real model: the real CLIs on SmolLM2-135M (llama-server)"
PROMPT = "Say hello in five words."
# One call's limit: codex's first call evaluates ~4,600 prompt tokens (160 s seen at load 7);
# a capped answer takes seconds after that.
CALL_TIMEOUT_S = 300.0
# All the calls of all the CLIs (15 rounds took ~6 min on a loaded 2-core machine).
BUDGET_S = 1800.0
Arm = Callable[[str], Awaitable[str]]
TokenCount = Callable[[], Awaitable[int]]
# clis.CLAUDE_BARE_ARGS for the SDK: tools=[] and system_prompt are its own options (`--tools ""`,
# `--system-prompt`); the rest go as extra_args (flag -> value; None: a flag without a value).
SDK_BARE_FLAGS: dict[str, str | None] = {"bare": None, "disable-slash-commands": None}


def skip_reason(paths: Paths, bin_dir: Path) -> str | None:
    """Why the section cannot run here (None: it can)."""
    lines = paths.missing()
    if absent := missing_clis(bin_dir):
        lines.append(
            f"real CLIs missing in {bin_dir}: {', '.join(absent)} (run: python "
            "tests/realcli/install.py, or set LLMINST_REALCLI_CACHE / LLMINST_REALCLI_BIN)"
        )
    return "; ".join(lines) or None


def skipped(reason: str) -> dict[str, Any]:
    return {
        "title": TITLE,
        "about": f"Skipped: {reason}.",
        "tables": [],
        "data": {"skipped": reason},
    }


async def _direct(spec: Any, env: Mapping[str, str], prompt: str) -> str:
    invocation = build_invocation(spec, prompt, base_env=env)
    done = await trio.run_process(
        list(invocation.argv),
        env=dict(invocation.env),
        stdin=invocation.stdin or b"",
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    if done.returncode != 0 or not done.stdout.strip():
        tail = done.stderr.decode(errors="replace")[-400:]
        raise RuntimeError(f"direct {invocation.argv[0]} exited {done.returncode}: {tail}")
    return str(done.stdout.decode(errors="replace"))


class RealModelError(RuntimeError):
    """The section cannot finish: a call failed or ran out of time, or the section did."""


@dataclass
class CliFigures:
    """One CLI's counted calls: seconds and tokens generated per call by arm, its wall time."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    tokens: dict[str, list[int]] = field(default_factory=dict)
    wall_s: float = 0.0


@dataclass
class Progress:
    """What the section has measured so far and where it is (for a failure's message)."""

    clis: dict[str, CliFigures] = field(default_factory=dict)
    at: str = "before the first call"


def _agent_sdk_call(claude: Path, env: Mapping[str, str], prompt: str, timeout_s: float) -> str:
    """One ``query()`` on a fresh asyncio loop (this runs in a worker thread), given up after
    `timeout_s` (the SDK then ends its claude process)."""
    from claude_agent_sdk import ClaudeAgentOptions, ResultMessage, query

    options = ClaudeAgentOptions(
        cli_path=str(claude),
        permission_mode="bypassPermissions",
        system_prompt=CLAUDE_SYSTEM_PROMPT,
        tools=[],
        env=dict(env),
        extra_args=SDK_BARE_FLAGS,
    )

    async def ask() -> str:
        answer = ""
        async for message in query(prompt=prompt, options=options):
            if isinstance(message, ResultMessage):
                if message.is_error:
                    raise RuntimeError(f"claude-agent-sdk error result: {message.result}")
                answer = message.result or ""
        return answer

    return asyncio.run(asyncio.wait_for(ask(), timeout_s))


async def _timed(arm: Arm, prompt: str, where: str) -> float:
    """Seconds `arm` takes to answer `prompt`; a failure, an empty answer or no answer within
    CALL_TIMEOUT_S is a RealModelError naming `where`."""
    started = trio.current_time()  # the monotonic clock (perf_counter) outside tests
    try:
        with trio.fail_after(CALL_TIMEOUT_S):
            answer = await arm(prompt)
    except (trio.TooSlowError, TimeoutError) as exc:
        raise RealModelError(f"{where}: no answer within {CALL_TIMEOUT_S:.0f} s") from exc
    except Exception as exc:
        raise RealModelError(f"{where}: {type(exc).__name__}: {exc}") from exc
    if not answer.strip():
        raise RealModelError(f"{where}: an empty answer")
    return trio.current_time() - started


async def _measure_cli(
    cli: str, arms: dict[str, Arm], calls: int, progress: Progress, tokens: TokenCount
) -> None:
    """One uncounted warm-up round, then `calls` rounds; the arms alternate within a round, in
    a balanced order (`_in_turn`). Each call's answer length is the server's token count
    across it."""
    figures = progress.clis.setdefault(cli, CliFigures())
    for name in arms:  # the report lists the arms in this order, direct first
        figures.seconds.setdefault(name, [])
        figures.tokens.setdefault(name, [])
    started = trio.current_time()
    for round_ in range(calls + 1):
        for name in _in_turn(list(arms), round_):
            arm = arms[name]
            progress.at = f"{cli} {name}, round {round_} of {calls}" + (
                "" if round_ else " (warm-up)"
            )
            before = await tokens()
            elapsed = await _timed(arm, f"{PROMPT} ({round_})", progress.at)
            generated = await tokens() - before
            if round_:
                figures.seconds[name].append(elapsed)
                figures.tokens[name].append(generated)
            figures.wall_s = trio.current_time() - started


def _in_turn(names: list[str], round_: int) -> list[str]:
    """The arms' order in a round, from a Williams design: over a cycle of rounds each arm
    comes first as often as the others, and follows each other arm as often. A round's first
    call evaluates the new prompt (the round number changes it) and a call after the agent
    SDK's differently laid out request re-evaluates its prefix; the rest hit the server's cache.
    """
    return [names[i] for i in _williams_rows(len(names))[round_ % _cycle(len(names))]]


def _cycle(count: int) -> int:
    return count if count % 2 == 0 else 2 * count


def _williams_rows(count: int) -> list[list[int]]:
    """Rows 0, 1, n-1, 2, n-2, ... shifted by each row's index (and reversed too for odd n)."""
    first = [0] + [(step + 1) // 2 if step % 2 else count - step // 2 for step in range(1, count)]
    rows = [[(arm + shift) % count for arm in first] for shift in range(count)]
    return rows if count % 2 == 0 else rows + [row[::-1] for row in rows]


def _arms(
    stack_clients: Mapping[str, Client],
    supervisor: Any,
    models: Mapping[str, Any],
    env: Mapping[str, str],
    cli: Any,
) -> dict[str, Arm]:
    spec = models[cli.model]

    async def direct(prompt: str) -> str:
        return await _direct(spec, env, prompt)

    async def library(prompt: str) -> str:
        result = await supervisor.run(cli.model, prompt, timeout=CALL_TIMEOUT_S)
        return str(result.output)

    async def mcp(prompt: str) -> str:
        args = {"model": cli.model, "prompt": prompt, "timeout": CALL_TIMEOUT_S}
        result = await stack_clients[cli.name].call_tool("execute_llm", args)
        if result.is_error:
            raise RuntimeError(f"execute_llm on {cli.model}: {result.content}")
        return str((result.structured_content or {}).get("output", ""))

    arms: dict[str, Arm] = {"direct": direct, "library": library, "mcp-stdio": mcp}
    if cli.name == "claude" and importlib.util.find_spec("claude_agent_sdk"):
        claude = realcli_bin() / "claude"

        async def agent_sdk(prompt: str) -> str:
            # The thread cannot be cancelled: the SDK gives up at the deadline itself.
            left = trio.current_effective_deadline() - trio.current_time()
            return await trio.to_thread.run_sync(_agent_sdk_call, claude, env, prompt, left)

        arms["agent-sdk"] = agent_sdk
    return arms


async def _measure_all(server: LlamaServer, workdir: Path, calls: int, budget_s: float) -> Progress:
    """Every chosen CLI's arms, within `budget_s` (past it: a RealModelError saying where)."""
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    write_codex_config(home, server)
    env = cli_env(realcli_bin(), home, server)
    config = write_llminst_config(workdir / "realmodel.toml", workdir / "realmodel.sqlite3")
    models = resolve_models(load_config(config))
    serve = ["-m", "llminst.cli", "--config", str(config), "serve"]
    progress = Progress()

    async def tokens() -> int:
        return await trio.to_thread.run_sync(tokens_predicted, server.url)

    async def measure() -> None:
        async with AsyncExitStack() as stack:
            store = await stack.enter_async_context(open_store(workdir / "library.sqlite3"))
            supervisor = await stack.enter_async_context(
                open_supervisor(models=models, base_env=env, store=store)
            )
            for cli in _chosen_clis():
                params = StdioServerParameters(command=sys.executable, args=serve, env=env)
                async with Client(params) as client:
                    arms = _arms({cli.name: client}, supervisor, models, env, cli)
                    names = ", ".join(arms)
                    print(f"[realmodel] {cli.name}: {names}", file=sys.stderr, flush=True)
                    await _measure_cli(cli.name, arms, calls, progress, tokens)

    await _within_budget(budget_s, progress, measure)
    return progress


async def _within_budget(
    budget_s: float, progress: Progress, measure: Callable[[], Awaitable[None]]
) -> None:
    """Run `measure`; past `budget_s`, cancel it and raise a RealModelError saying where."""
    with trio.move_on_after(budget_s) as budget:
        await measure()
    if budget.cancelled_caught:
        raise RealModelError(_over_budget(progress, budget_s))


def _over_budget(progress: Progress, budget_s: float) -> str:
    walls = ", ".join(f"{cli} {f.wall_s:.0f} s" for cli, f in progress.clis.items())
    return (
        f"the realmodel section ran out of its {budget_s:.0f}-s budget at {progress.at} "
        f"(time per CLI: {walls}); set LLMINST_REALMODEL_BUDGET_S higher, or fewer calls "
        "(LLMINST_REALMODEL_CALLS) or CLIs (LLMINST_REALMODEL_CLIS)"
    )


def _chosen_clis() -> list[Any]:
    """``LLMINST_REALMODEL_CLIS`` (comma-separated names) or all four."""
    names = [n.strip() for n in os.environ.get("LLMINST_REALMODEL_CLIS", "").split(",")]
    chosen = [cli for cli in REAL_MODEL_CLIS if cli.name in names]
    return chosen or list(REAL_MODEL_CLIS)


def _rows(progress: Progress) -> tuple[list[list[Any]], dict[str, Any]]:
    rows: list[list[Any]] = []
    data: dict[str, Any] = {}
    for cli, figures in progress.clis.items():
        stats = {arm: summarize(values) for arm, values in figures.seconds.items()}
        direct = stats["direct"]["median"]
        for arm, s in stats.items():
            s["ratio"] = ratio(s["median"], direct)
            generated = figures.tokens[arm]
            s["tokens_median"] = summarize([float(t) for t in generated])["median"]
            s["tokens_max"] = max(generated)
            row = [cli, arm, s["n"], s["median"], s["p95"], s["min"], s["ratio"]]
            rows.append([*row, s["tokens_median"], s["tokens_max"]])
        data[cli] = {**stats, "wall_s": figures.wall_s}
    return rows, data


def _budget_s() -> float:
    return float(os.environ.get("LLMINST_REALMODEL_BUDGET_S") or BUDGET_S)


async def run(ctx: Context) -> dict[str, Any]:
    paths = Paths.under(cache_dir())
    bin_dir = realcli_bin()
    if reason := skip_reason(paths, bin_dir):
        return skipped(reason)
    calls = int(os.environ.get("LLMINST_REALMODEL_CALLS") or ctx.pick(15, 2))
    budget_s = _budget_s()
    log = ctx.workdir / "llama-server.log"
    with run_llama_server(paths.server, paths.model, log) as server:
        progress = await _measure_all(server, ctx.workdir, calls, budget_s)
        argv = " ".join(server.argv[1:]).replace(str(paths.model), paths.model.name)
    rows, data = _rows(progress)
    data.update(llama_server_args=argv, budget_s=budget_s, call_timeout_s=CALL_TIMEOUT_S)
    walls = ", ".join(f"{cli} {figures.wall_s:.0f} s" for cli, figures in progress.clis.items())
    headers = ["CLI", "arm", "calls", "median s", "p95 s", "min s", "x direct"]
    return {
        "title": TITLE,
        "about": (
            "Seconds per call (prompt to complete answer) of each real CLI against llama.cpp's "
            f"llama-server serving SmolLM2-135M on 127.0.0.1 (`llama-server {argv}`); the arms "
            "alternate call by call in a balanced order (each first, and after each other, as often) "
            "after one uncounted warm-up round. direct: the command "
            "line llminst builds, run with no supervisor; library: Supervisor.run with a "
            "SQLite store; mcp-stdio: execute_llm over one `llminst serve` stdio session; "
            "agent-sdk: claude-agent-sdk query() with the same bare flags. The model is tiny "
            "and CPU-bound: the answers (and so the times) vary with its output length; "
            f"tokens: generated per call (every answer capped at {MAX_ANSWER_TOKENS}). "
            f"Wall time per CLI (warm-up included): {walls}; limits: {CALL_TIMEOUT_S:.0f} s a "
            f"call, {budget_s:.0f} s for all the calls."
        ),
        "tables": [table([*headers, "tokens median", "tokens max"], rows)],
        "data": data,
    }


def median_ratio(results: dict[str, Any], cli: str, arm: str) -> float | None:
    """A CLI's arm median / direct median from a report (None: not measured)."""
    try:
        value = float(results["realmodel"]["data"][cli][arm]["ratio"])
    except (KeyError, TypeError, ValueError):
        return None
    return None if math.isnan(value) else value
