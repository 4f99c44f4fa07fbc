"""Capacity (opt-in: ``python -m benchmarks --only capacity``): each real CLI's CPU, memory and
wall time per call, and how many calls 1, 10 and 100 machines sustain.

This section owns the measurement behind docs/scaling.md's capacity estimate. For each real CLI
installed by ``tests/realcli/install.py`` (claude, gemini, codex, the openai CLI, llm) it starts
that CLI's fake API from ``tests/realcli`` on 127.0.0.1, points the CLI at it (environment and
config home as the realcli tests do), makes one warm-up call and then N calls one at a time
through `Supervisor.run` (subreaper on, so every descendant is reaped here), and takes per call:

- CPU seconds of the whole tree: the ``RUSAGE_CHILDREN`` user+system delta around the call
  (children count once reaped; the section waits until none is left before reading it);
- peak RSS of the tree: `CallResult.peak_rss_mb` (memory admission samples every member's own
  high-water mark every 0.1 s);
- wall time (the machine is shared: CPU seconds are robust to load, wall time is not).

It also runs ``llminst serve`` over stdio doing echo calls on the stand-in and reads the server
process's own CPU per call and RSS (`procs`, through ``procfs``). `capacity_estimate` turns the
medians into the table. CLIs that are not installed are listed as not measured; with none, the
section says it was skipped and why. It never installs a CLI and never talks to a real API.
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import trio
from mcp import Client, StdioServerParameters
from tests.realcli.fake_anthropic import FakeAnthropic
from tests.realcli.fake_gemini import FakeGemini, gemini_env
from tests.realcli.fake_openai_chat import FakeOpenAIChat
from tests.realcli.fake_openai_responses import FakeResponses, codex_config_toml
from tests.realcli.install import CACHE, CLIS

from llminst import BUILTIN_MODELS, ModelSpec, open_supervisor
from llminst.supervisor import procfs

from . import procs
from .capacity_estimate import (
    DEFAULT_MACHINE,
    CliFigures,
    Estimate,
    Machine,
    ServerFigures,
    estimate,
    redis_ops_per_call,
)
from .common import Context, serve_argv, table, write_config
from .stats import summarize

__all__ = ["CLI_MODELS", "TITLE", "locate_bin", "measure_calls", "report", "run", "skipped"]

TITLE = "Capacity: per-call cost of each real CLI, and calls per second for 1, 10 and 100 machines"
# The CLI (install.CLIS key) -> the llminst model that runs it against its fake API.
CLI_MODELS = {
    "claude": "claude",
    "gemini": "gemini",
    "codex": "codex",
    "openai": "gpt-4",
    "llm": "llm:gpt-4o-mini",
}
# Variables a developer's shell may carry that would point a CLI at a real account or API.
LEAKY_PREFIXES = ("ANTHROPIC_", "CLAUDE_", "OPENAI_", "GEMINI_", "GOOGLE_", "CODEX_", "LLM_")
REAP_WAIT_S = 10.0
CALL_TIMEOUT_S = 180.0


def locate_bin(environ: dict[str, str] | os._Environ[str] = os.environ) -> tuple[Path, list[str]]:
    """The folder of the installed CLIs (``$LLMINST_REALCLI_BIN``, else the install cache's
    ``bin``) and which of `CLI_MODELS`' CLIs are missing there."""
    folder = Path(environ.get("LLMINST_REALCLI_BIN") or CACHE / "bin")
    missing = [name for name in CLI_MODELS if not (folder / CLIS[name].executable).exists()]
    return folder, missing


def _skip_line(folder: Path, missing: list[str]) -> str:
    return (
        f"not installed in {folder}: {', '.join(missing)} (run `python tests/realcli/install.py "
        f"{' '.join(missing)}`, or point LLMINST_REALCLI_CACHE / LLMINST_REALCLI_BIN at an "
        "install)"
    )


async def run(ctx: Context) -> dict[str, Any]:
    folder, missing = locate_bin()
    names = [name for name in CLI_MODELS if name not in missing]
    if not names:
        return skipped(_skip_line(folder, missing))
    calls = ctx.pick(10, 2)
    measured = {}
    with _fake_apis() as apis:
        for name in names:
            scratch = ctx.workdir / "capacity" / name
            env = _cli_env(name, folder, scratch, apis)
            measured[name] = await measure_calls(
                CLI_MODELS[name], models=BUILTIN_MODELS, env=env, calls=calls, cwd=scratch / "work"
            )
    server = await _measure_server(ctx, calls=ctx.pick(100, 10))
    note = f"Not measured: {_skip_line(folder, missing)}." if missing else ""
    return report(measured, server, note=note)


def skipped(reason: str) -> dict[str, Any]:
    """The section's result when no real CLI is installed: one clear line, no figures."""
    return {
        "title": TITLE,
        "about": f"capacity: skipped ({reason}).",
        "tables": [],
        "data": {"available": False, "reason": reason},
    }


@contextmanager
def _fake_apis() -> Iterator[dict[str, Any]]:
    """Every fake API the CLIs talk to, each on its own port of 127.0.0.1."""
    with ExitStack() as stack:
        yield {
            "anthropic": stack.enter_context(FakeAnthropic()),
            "gemini": stack.enter_context(FakeGemini()),
            "responses": stack.enter_context(FakeResponses()),
            "chat": stack.enter_context(FakeOpenAIChat()),
        }


def _cli_env(name: str, folder: Path, scratch: Path, apis: dict[str, Any]) -> dict[str, str]:
    """`name`'s environment against its fake: no credentials of the user's, a private HOME and
    TMPDIR, the CLIs first on PATH, and what the realcli tests set for it."""
    home, tmp = scratch / "home", scratch / "tmp"
    for path in (home, tmp, scratch / "work"):
        path.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(LEAKY_PREFIXES)}
    env.pop("IS_SANDBOX", None)
    env.update(PATH=f"{folder}{os.pathsep}{env.get('PATH', os.defpath)}", HOME=str(home))
    env["TMPDIR"] = str(tmp)
    if name == "claude":
        env["ANTHROPIC_BASE_URL"] = apis["anthropic"].url
        env["ANTHROPIC_API_KEY"] = "sk-ant-fake-key-for-capacity"
        env["IS_SANDBOX"] = "1"  # as root, claude's permission flag needs it
    elif name == "gemini":
        settings = home / ".gemini" / "settings.json"
        settings.parent.mkdir(exist_ok=True)
        settings.write_text(json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}}))
        env.update(gemini_env(apis["gemini"]))
    elif name == "codex":
        config = home / ".codex" / "config.toml"
        config.parent.mkdir(exist_ok=True)
        config.write_text(codex_config_toml(apis["responses"]))
        env["OPENAI_API_KEY"] = "sk-fake-key-for-capacity"
    else:  # the openai CLI and llm: the Chat Completions fake
        env["OPENAI_BASE_URL"] = apis["chat"].base_url
        env["OPENAI_API_KEY"] = "sk-fake-key-for-capacity"
    return env


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _wait_reaped() -> int:
    """Wait (bounded) until this process has no child left: a child's CPU reaches
    RUSAGE_CHILDREN only once it is reaped. Returns how many were still there."""
    with trio.move_on_after(REAP_WAIT_S):
        while True:  # polled: the kernel tells nobody when a reaper is done
            if not procfs.self_children():
                break
            await trio.sleep(0.02)
    return len(procfs.self_children())


async def measure_calls(
    model: str,
    *,
    models: Mapping[str, ModelSpec],
    env: Mapping[str, str],
    calls: int,
    cwd: Path,
) -> dict[str, Any]:
    """One warm-up call, then `calls` calls of `model` one at a time through `Supervisor.run`
    (subreaper on): each call's tree CPU, peak RSS and wall time, summarized.

    Raises:
        RuntimeError: a call failed or answered nothing (its figures would be meaningless).
    """
    cpu: list[float] = []
    rss: list[float] = []
    wall: list[float] = []
    leftovers = 0
    async with open_supervisor(models=models, base_env=env, subreaper=True) as supervisor:
        for number in range(calls + 1):
            await _wait_reaped()
            before, start = _children_cpu_s(), time.perf_counter()
            result = await supervisor.run(
                model, f"capacity probe {number}", timeout=CALL_TIMEOUT_S, cache=False, cwd=cwd
            )
            elapsed = time.perf_counter() - start
            leftovers += await _wait_reaped()
            if not result.success or not result.output.strip():
                raise RuntimeError(f"{model} failed: {result.error or result.stderr_tail}")
            if number == 0:
                continue  # the warm-up: first-run caches, the version probe
            cpu.append(_children_cpu_s() - before)
            wall.append(elapsed)
            if result.peak_rss_mb is not None:
                rss.append(result.peak_rss_mb)
    return {
        "model": model,
        "cpu_s": summarize(cpu),
        "peak_rss_mb": summarize(rss),
        "wall_s": summarize(wall),
        "children_left_unreaped": leftovers,
    }


async def _measure_server(ctx: Context, *, calls: int) -> dict[str, Any]:
    """``llminst serve`` over stdio doing `calls` echo calls on the stand-in: the server
    process's own CPU per call (its children are the stand-in, not counted) and its RSS."""
    ok = ctx.standin.argv("ok")
    config = write_config(ctx.workdir / "capacity-serve.toml", {"bench-ok": ok})
    argv = serve_argv(config)
    args = {"model": "bench-ok", "prompt": "x"}
    async with Client(StdioServerParameters(command=argv[0], args=argv[1:])) as client:
        pid = procs.child_with("llminst.cli")
        for _ in range(5):  # warm up: the first calls import and compile what serving needs
            await client.call_tool("execute_llm", args)
        before = procs.cpu_seconds(pid)
        for _ in range(calls):
            result = await client.call_tool("execute_llm", args)
            if result.is_error:
                raise RuntimeError(f"llminst serve: the echo call failed: {result.content}")
        cpu_per_call = (procs.cpu_seconds(pid) - before) / calls
        memory = procs.memory_kb(pid)
    return {
        "calls": calls,
        "cpu_s_per_call": cpu_per_call,
        "rss_mb": memory["VmRSS"] / 1024,
        "peak_rss_mb": memory["VmHWM"] / 1024,
    }


def estimates(
    measured: dict[str, dict[str, Any]],
    server: dict[str, Any],
    machine: Machine = DEFAULT_MACHINE,
    *,
    ops_per_call: int,
) -> list[Estimate]:
    """The capacity of each measured CLI from its medians and the server's figures."""
    serving = ServerFigures(cpu_s_per_call=server["cpu_s_per_call"], rss_mb=server["rss_mb"])
    return [
        estimate(
            CliFigures(
                name=name,
                cpu_s=figures["cpu_s"]["median"],
                peak_rss_mb=figures["peak_rss_mb"]["median"],
                wall_s=figures["wall_s"]["median"],
            ),
            serving,
            machine,
            redis_ops_per_call=ops_per_call,
        )
        for name, figures in measured.items()
    ]


def report(
    measured: dict[str, dict[str, Any]], server: dict[str, Any], *, note: str = ""
) -> dict[str, Any]:
    """The section's result: the measured figures, one machine's bounds, and the fleets."""
    machine = DEFAULT_MACHINE
    ops = redis_ops_per_call()
    found = estimates(measured, server, machine, ops_per_call=ops)
    return {
        "title": TITLE,
        "about": _about(machine, ops, note),
        "tables": [
            _figures_table(measured, server),
            table(
                [
                    "CLI",
                    "CPU s/call (tree + serve)",
                    "calls/s, CPU-bound",
                    "calls at once, memory-bound",
                    "calls/s, memory-bound (at measured wall)",
                    "bound",
                    "memory binds past (s/call)",
                ],
                [
                    [
                        e.cli,
                        e.cpu_s_per_call,
                        e.cpu_bound_calls_per_s,
                        e.concurrent_calls,
                        e.memory_bound_calls_per_s,
                        e.bound,
                        e.memory_binds_past_s,
                    ]
                    for e in found
                ],
            ),
            table(
                ["CLI", "machines", "calls/s", "calls at once", f"Redis ops/s ({ops}/call)"],
                [
                    [e.cli, f.machines, f.calls_per_s, f.concurrent_calls, f.redis_ops_per_s]
                    for e in found
                    for f in e.fleets
                ],
            ),
        ],
        "data": {
            "available": True,
            "machine": {"cores": machine.cores, "memory_mb": machine.memory_mb},
            "reserve_mb": machine.reserve_mb,
            "redis_ops_per_call": ops,
            "clis": measured,
            "server": server,
            "estimates": {e.cli: _estimate_data(e) for e in found},
        },
    }


def _figures_table(measured: dict[str, dict[str, Any]], server: dict[str, Any]) -> dict[str, Any]:
    rows = [
        [
            name,
            figures["model"],
            figures["cpu_s"]["n"],
            figures["cpu_s"]["median"],
            figures["cpu_s"]["p95"],
            figures["peak_rss_mb"]["median"],
            figures["peak_rss_mb"]["max"],
            figures["wall_s"]["median"],
            figures["wall_s"]["p95"],
        ]
        for name, figures in measured.items()
    ]
    rows.append(
        [
            "llminst serve (its own process, echo calls)",
            "bench-ok",
            server["calls"],
            server["cpu_s_per_call"],
            None,
            server["rss_mb"],
            server["peak_rss_mb"],
            None,
            None,
        ]
    )
    return table(
        [
            "CLI",
            "model",
            "n",
            "CPU s/call",
            "CPU p95",
            "peak RSS MB",
            "peak RSS max",
            "wall s (load-sensitive)",
            "wall p95",
        ],
        rows,
    )


def _about(machine: Machine, ops: int, note: str) -> str:
    return (
        "Each real CLI through llminst's library against its fake API on 127.0.0.1, calls one "
        "at a time after one warm-up; medians. CPU = user+system seconds of the CLI's whole "
        "process tree (RUSAGE_CHILDREN around each call, every descendant reaped); peak RSS = "
        "the tree's sampled peak (CallResult.peak_rss_mb); wall time depends on the machine's "
        "load (other work shares its cores), CPU seconds far less (the header gives the load). "
        "Peak RSS sums each member's own high-water mark, so pages a forked child shares "
        "with its parent count twice (the max column); the estimate uses medians. The serve row is `llminst "
        "serve` over stdio doing echo calls: its own CPU per call (added to each CLI's) and "
        f"its RSS (taken from the memory). The machine: {machine.describe()}. calls/s "
        "CPU-bound = cores / CPU per call; calls at once = (memory - reserve - serve RSS) / "
        "peak RSS; fleets scale linearly (replicas share only the store). Redis ops/s = "
        f"calls/s x {ops} operations per call (LLMINST_CAPACITY_REDIS_OPS sets the count). "
        "The fake APIs answer at once: with a real model's latency a call holds its memory "
        "longer, and memory binds once a call lasts longer than the last column."
        + (f" {note}" if note else "")
    )


def _estimate_data(e: Estimate) -> dict[str, Any]:
    return {
        "cpu_s_per_call": e.cpu_s_per_call,
        "cpu_bound_calls_per_s": e.cpu_bound_calls_per_s,
        "concurrent_calls": e.concurrent_calls,
        "memory_bound_calls_per_s": e.memory_bound_calls_per_s,
        "calls_per_s": e.calls_per_s,
        "bound": e.bound,
        "memory_binds_past_s": e.memory_binds_past_s,
        "fleets": [
            {
                "machines": f.machines,
                "calls_per_s": f.calls_per_s,
                "concurrent_calls": f.concurrent_calls,
                "redis_ops_per_s": f.redis_ops_per_s,
            }
            for f in e.fleets
        ],
    }
