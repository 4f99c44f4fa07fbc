"""Measure one peer in this interpreter and print one JSON line (run by `measure_peers`).

``python -m benchmarks.peers.run_one {llminst,sdk,ws} --calls N [--warmup W]`` makes its own copy
of the stand-in claude, runs W warm-up calls and N measured calls one after the other, checks
that every answer is ``Echo: <prompt>``, and prints ``{"unavailable", "per_call_ms", "rss_mb",
"notes"}``. A peer whose package is not installed, or that fails or answers wrongly, prints
``unavailable`` with the reason (and exits 1 when it failed). This module owns how each peer is
driven; `benchmarks.peers` owns running them and the report.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.util
import json
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.peers import ROOT, standin_executable

ONE_SHOT_ARGS = (
    "-p",
    "--dangerously-skip-permissions",
    "--output-format",
    "stream-json",
    "--verbose",
)
_SERVER_START_S = 30.0


class Unavailable(Exception):
    """The peer cannot be measured here (the message says why)."""


class WrongAnswer(Exception):
    """A peer's call did not return the stand-in's answer."""


def prompt_for(i: int) -> str:
    return f"peer benchmark call {i}: say hello"


def expected_answer(prompt: str) -> str:
    return f"Echo: {prompt}"


def check(i: int, prompt: str, answer: str | None) -> None:
    if answer != expected_answer(prompt):
        raise WrongAnswer(f"call {i}: expected {expected_answer(prompt)!r}, got {answer!r}")


def peak_rss_mb() -> float:
    """This process's peak RSS in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def require(module: str, package: str) -> str:
    """The installed version of `package`; Unavailable when `module` cannot be found."""
    if importlib.util.find_spec(module) is None:
        raise Unavailable(
            f"{package} is not installed (pip install {package}, or the project's bench extra)"
        )
    return importlib.metadata.version(package)


async def timed_calls(
    calls: int, warmup: int, call: Callable[[int, str], Awaitable[str | None]]
) -> list[float]:
    """Run warm-up then measured calls one at a time; each answer is checked; the measured ms."""
    times: list[float] = []
    for i in range(warmup + calls):
        prompt = prompt_for(i)
        started = time.perf_counter()
        answer = await call(i, prompt)
        elapsed_ms = (time.perf_counter() - started) * 1000
        check(i, prompt, answer)
        if i >= warmup:
            times.append(elapsed_ms)
    return times


def measure_llminst(claude: Path, calls: int, warmup: int) -> dict[str, Any]:
    import attrs
    import trio

    from llminst import BUILTIN_MODELS
    from llminst.supervisor import open_supervisor

    version = importlib.metadata.version("llminst")
    spec = attrs.evolve(
        BUILTIN_MODELS["claude"],
        command=(str(claude), *BUILTIN_MODELS["claude"].command[1:]),
        version_command=(str(claude), "--version"),
    )

    async def run() -> list[float]:
        async with open_supervisor(models={"claude": spec}) as supervisor:

            async def call(_i: int, prompt: str) -> str | None:
                result = await supervisor.run("claude", prompt)
                if not result.success:
                    raise WrongAnswer(f"llminst call failed: {result.error}")
                return result.output

            return await timed_calls(calls, warmup, call)

    times = trio.run(run)
    return {
        "per_call_ms": times,
        "rss_mb": peak_rss_mb(),
        "notes": (
            f"llminst {version}: Supervisor.run() per call on trio, the built-in claude's launch "
            "(--output-format stream-json --verbose --input-format stream-json, the prompt as a "
            "user message on stdin); "
            "RSS: peak of the measuring interpreter"
        ),
    }


def measure_sdk(claude: Path, calls: int, warmup: int) -> dict[str, Any]:
    version = require("claude_agent_sdk", "claude-agent-sdk")
    import anyio
    from claude_agent_sdk import ClaudeAgentOptions, ResultMessage, query

    options = ClaudeAgentOptions(cli_path=str(claude), permission_mode="bypassPermissions")

    async def call(_i: int, prompt: str) -> str | None:
        answer: str | None = None
        async for message in query(prompt=prompt, options=options):
            if isinstance(message, ResultMessage):
                if message.is_error:
                    raise WrongAnswer(f"the SDK reported an error result: {message.result}")
                answer = message.result
        return answer

    async def run() -> list[float]:
        return await timed_calls(calls, warmup, call)

    times = anyio.run(run)
    return {
        "per_call_ms": times,
        "rss_mb": peak_rss_mb(),
        "notes": (
            f"claude-agent-sdk {version}: query() per call on asyncio (anyio), cli_path at the "
            "stand-in, permission_mode bypassPermissions; each call spawns the CLI, sends "
            "initialize and the prompt over the stream-json control protocol and reads to the "
            "result; RSS: peak of the measuring interpreter"
        ),
    }


def _vm_hwm_mb(pid: int) -> float | None:
    """Peak RSS (VmHWM) of a live process in MiB, from /proc (None where there is no /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def _start_server() -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.peers.ws_executor", "--serve", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    # The server prints its address once it listens (or dies: readline then returns "").
    line = server.stdout.readline()
    if not line.startswith("listening on "):
        server.kill()
        _, err = server.communicate(timeout=_SERVER_START_S)
        raise Unavailable(f"failed: the WebSocket server did not start: {(line + err).strip()}")
    return server, line.removeprefix("listening on ").strip()


def _stop_server(server: subprocess.Popen[str]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def measure_ws(claude: Path, calls: int, warmup: int) -> dict[str, Any]:
    version = require("websockets", "websockets")
    from benchmarks.peers.ws_executor import ExecutorClient, claude_result_text

    server, url = _start_server()
    try:

        async def run() -> list[float]:
            async with ExecutorClient.connect(url) as client:

                async def call(_i: int, prompt: str) -> str | None:
                    command = shlex.join([str(claude), *ONE_SHOT_ARGS, "--", prompt])
                    execution = await client.execute(command)
                    if execution.exit_code != 0:
                        raise WrongAnswer(
                            f"exit status {execution.exit_code}: {''.join(execution.stderr)[-500:]}"
                        )
                    return claude_result_text(execution.stdout)

                return await timed_calls(calls, warmup, call)

        times = asyncio.run(run())
        rss = _vm_hwm_mb(server.pid)
    finally:
        _stop_server(server)
    rss_note = "server VmHWM" if rss is not None else "no /proc here: server RSS unknown"
    return {
        "per_call_ms": times,
        "rss_mb": rss,
        "notes": (
            f"labelled baseline (benchmarks/peers/ws_executor.py, websockets {version}) in the "
            "style of cc_executor, not cc_executor itself: per call, execute -> process.output "
            "lines -> process.completed over one kept connection, the command run by /bin/sh in "
            f"a new process group; RSS: {rss_note}; client peak RSS {peak_rss_mb():.1f} MiB"
        ),
    }


def describe(exc: BaseException) -> str:
    """The exception's type and message; exception groups (trio nurseries) by their leaves."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


MEASURES: dict[str, Callable[[Path, int, int], dict[str, Any]]] = {
    "llminst": measure_llminst,
    "sdk": measure_sdk,
    "ws": measure_ws,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("peer", choices=sorted(MEASURES))
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"unavailable": None, "per_call_ms": None, "rss_mb": None, "notes": ""}
    status = 0
    with tempfile.TemporaryDirectory(prefix="llminst-peers-") as folder:
        claude = standin_executable(Path(folder))
        try:
            report.update(MEASURES[args.peer](claude, args.calls, args.warmup))
        except Unavailable as exc:
            report["unavailable"] = str(exc)
        except Exception as exc:
            report["unavailable"] = f"failed: {describe(exc)}"
            status = 1
    print(json.dumps(report), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
