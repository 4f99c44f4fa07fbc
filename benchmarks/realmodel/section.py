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
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
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
from .llama import LlamaServer, run_llama_server
from .setup import Paths, cache_dir

TITLE = "A real model: the real CLIs on SmolLM2-135M (llama-server)"
PROMPT = "Say hello in five words."
CALL_TIMEOUT_S = 300.0
Arm = Callable[[str], Awaitable[str]]
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


def _agent_sdk_call(claude: Path, env: Mapping[str, str], prompt: str) -> str:
    """One ``query()`` on a fresh asyncio loop (this runs in a worker thread)."""
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

    return asyncio.run(ask())


async def _timed(arm: Arm, prompt: str) -> float:
    started = time.perf_counter()
    answer = await arm(prompt)
    elapsed = time.perf_counter() - started
    if not answer.strip():
        raise RuntimeError("an empty answer")
    return elapsed


async def _measure_cli(arms: dict[str, Arm], calls: int, samples: dict[str, list[float]]) -> None:
    """One uncounted warm-up round, then `calls` rounds; the arms alternate within a round."""
    for round_ in range(calls + 1):
        for name, arm in arms.items():
            elapsed = await _timed(arm, f"{PROMPT} ({round_})")
            if round_:
                samples.setdefault(name, []).append(elapsed)


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
            return await trio.to_thread.run_sync(_agent_sdk_call, claude, env, prompt)

        arms["agent-sdk"] = agent_sdk
    return arms


async def _measure_all(
    server: LlamaServer, workdir: Path, calls: int
) -> dict[str, dict[str, list[float]]]:
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    write_codex_config(home, server)
    env = cli_env(realcli_bin(), home, server)
    config = write_llminst_config(workdir / "realmodel.toml", workdir / "realmodel.sqlite3")
    models = resolve_models(load_config(config))
    serve = ["-m", "llminst.cli", "--config", str(config), "serve"]
    samples: dict[str, dict[str, list[float]]] = {}
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(open_store(workdir / "library.sqlite3"))
        supervisor = await stack.enter_async_context(
            open_supervisor(models=models, base_env=env, store=store)
        )
        for cli in _chosen_clis():
            params = StdioServerParameters(command=sys.executable, args=serve, env=env)
            async with Client(params) as client:
                arms = _arms({cli.name: client}, supervisor, models, env, cli)
                print(f"[realmodel] {cli.name}: {', '.join(arms)}", file=sys.stderr, flush=True)
                await _measure_cli(arms, calls, samples.setdefault(cli.name, {}))
    return samples


def _chosen_clis() -> list[Any]:
    """``LLMINST_REALMODEL_CLIS`` (comma-separated names) or all four."""
    names = [n.strip() for n in os.environ.get("LLMINST_REALMODEL_CLIS", "").split(",")]
    chosen = [cli for cli in REAL_MODEL_CLIS if cli.name in names]
    return chosen or list(REAL_MODEL_CLIS)


def _rows(samples: dict[str, dict[str, list[float]]]) -> tuple[list[list[Any]], dict[str, Any]]:
    rows: list[list[Any]] = []
    data: dict[str, Any] = {}
    for cli, arms in samples.items():
        stats = {arm: summarize(values) for arm, values in arms.items()}
        direct = stats["direct"]["median"]
        for arm, s in stats.items():
            s["ratio"] = ratio(s["median"], direct)
            rows.append([cli, arm, s["n"], s["median"], s["p95"], s["min"], s["ratio"]])
        data[cli] = stats
    return rows, data


async def run(ctx: Context) -> dict[str, Any]:
    paths = Paths.under(cache_dir())
    bin_dir = realcli_bin()
    if reason := skip_reason(paths, bin_dir):
        return skipped(reason)
    calls = int(os.environ.get("LLMINST_REALMODEL_CALLS") or ctx.pick(15, 2))
    log = ctx.workdir / "llama-server.log"
    with run_llama_server(paths.server, paths.model, log) as server:
        samples = await _measure_all(server, ctx.workdir, calls)
        argv = " ".join(server.argv[1:]).replace(str(paths.model), paths.model.name)
    rows, data = _rows(samples)
    data["llama_server_args"] = argv
    return {
        "title": TITLE,
        "about": (
            "Seconds per call (prompt to complete answer) of each real CLI against llama.cpp's "
            f"llama-server serving SmolLM2-135M on 127.0.0.1 (`llama-server {argv}`); the arms "
            "alternate call by call after one uncounted warm-up round. direct: the command "
            "line llminst builds, run with no supervisor; library: Supervisor.run with a "
            "SQLite store; mcp-stdio: execute_llm over one `llminst serve` stdio session; "
            "agent-sdk: claude-agent-sdk query() with the same bare flags. The model is tiny "
            "and CPU-bound: the answers (and so the times) vary with its output length."
        ),
        "tables": [table(["CLI", "arm", "calls", "median s", "p95 s", "min s", "x direct"], rows)],
        "data": data,
    }


def median_ratio(results: dict[str, Any], cli: str, arm: str) -> float | None:
    """A CLI's arm median / direct median from a report (None: not measured)."""
    try:
        value = float(results["realmodel"]["data"][cli][arm]["ratio"])
    except (KeyError, TypeError, ValueError):
        return None
    return None if math.isnan(value) else value
