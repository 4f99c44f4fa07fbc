"""Plain helpers the real-CLI tests share (the fixtures built on them: tests/clis/conftest.py).

- `locate_clis`: the folder holding the installed CLIs (``$LLMINST_REALCLI_BIN``, else
  ``.cache/realcli/bin``, else folders a module adds); fails with how to install them, never skips.
- `clean_env`: this process's environment without credentials, with a private HOME (and
  TMPDIR when asked) and the CLIs first on PATH.
- `connect` / `execute`: an in-memory MCP client of a fresh llminst server over `env`.
- `stream_call`: ``stream_llm`` with the time of each progress chunk, for "the answer arrives
  before the end" tests.
- `run_invocation`: run a built CLI command line directly (no llminst), for recorded outputs.
- `installed_version`: the version install.py put in place for a CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
from mcp import Client

from llminst import BUILTIN_MODELS, BackoffPolicy
from llminst._core.command import Invocation
from llminst._core.spec import ModelSpec
from llminst.server import ServerOptions, create_server

from ..support.progress import ProgressRecorder
from .install import CACHE, CLIS

FAST = BackoffPolicy(initial_s=0.05, maximum_s=0.2, jitter_s=0.0)
# Variables a developer's shell may carry that would point a CLI at a real account or API.
LEAKY_PREFIXES = ("ANTHROPIC_", "CLAUDE_", "OPENAI_", "GEMINI_", "GOOGLE_", "CODEX_", "LLM_")


def locate_clis(names: Sequence[str], *, extra: Sequence[Path] = (), hint: str = "") -> Path:
    """The first folder holding the executables of every CLI in `names` (see install.CLIS)."""
    executables = [CLIS[name].executable for name in names]
    candidates = [Path(p) for p in [os.environ.get("LLMINST_REALCLI_BIN")] if p]
    candidates += [CACHE / "bin", *extra]
    for folder in candidates:
        if all((folder / exe).exists() for exe in executables):
            return folder
    pytest.fail(
        f"real CLIs not installed: {', '.join(names)} (looked in "
        f"{', '.join(map(str, candidates))}); run `python tests/realcli/install.py "
        f"{' '.join(names)}` (tox -e realcli does it){hint}, or point LLMINST_REALCLI_BIN at a "
        "folder holding them",
        pytrace=False,
    )


def clean_env(
    bin_dir: Path,
    home: Path,
    *,
    tmpdir: Path | None = None,
    strip: Sequence[str] = LEAKY_PREFIXES,
) -> dict[str, str]:
    """This process's environment without variables starting with `strip` (nor IS_SANDBOX),
    `bin_dir` first on PATH, HOME (and TMPDIR when given) private."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(tuple(strip))}
    env.pop("IS_SANDBOX", None)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', os.defpath)}"
    env["HOME"] = str(home)
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    return env


@asynccontextmanager
async def connect(
    env: Mapping[str, str], *specs: ModelSpec, backoff: BackoffPolicy = FAST
) -> AsyncIterator[Client]:
    """A client of llminst's server over `env`, with `specs` replacing the built-in models."""
    models = {**BUILTIN_MODELS, **{s.name: s for s in specs}}
    server = create_server(ServerOptions(models=models, base_env=dict(env), backoff=backoff))
    async with Client(server) as client:
        yield client


async def execute(
    env: Mapping[str, str], args: dict[str, Any], *specs: ModelSpec, backoff: BackoffPolicy = FAST
) -> Any:
    """One ``execute_llm`` call with `args` on a fresh server."""
    async with connect(env, *specs, backoff=backoff) as client:
        return await client.call_tool("execute_llm", args)


@dataclass
class Streamed:
    """A ``stream_llm`` call: its result, the progress it sent and when (trio clock)."""

    result: Any
    recorder: ProgressRecorder
    start: float
    end: float
    chunk_times: list[float] = field(default_factory=list)

    @property
    def first_chunk_after(self) -> float:
        return min(self.chunk_times) - self.start

    @property
    def duration(self) -> float:
        return self.end - self.start


async def stream_call(
    env: Mapping[str, str],
    args: dict[str, Any],
    *,
    expected: str,
    backoff: BackoffPolicy = FAST,
) -> Streamed:
    """``stream_llm`` with `args`; waits until the progress chunks spell `expected`."""
    recorder = ProgressRecorder()
    chunk_times: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if message:
            chunk_times.append(trio.current_time())
        await recorder(progress, total, message)

    async with connect(env, backoff=backoff) as client:
        start = trio.current_time()
        result = await client.call_tool("stream_llm", args, progress_callback=on_progress)
        end = trio.current_time()
        await recorder.wait_for_text(expected)
    return Streamed(result, recorder, start, end, chunk_times)


def run_invocation(invocation: Invocation) -> subprocess.CompletedProcess[bytes]:
    """Run `invocation`'s command line with its environment and stdin (the prompt for a CLI
    that reads it there, else none), output captured."""
    return subprocess.run(
        list(invocation.argv),
        env=dict(invocation.env),
        stdin=subprocess.DEVNULL if invocation.stdin is None else None,
        input=invocation.stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )


def installed_version(name: str) -> str:
    """The pinned version install.py put in place (from paths.json)."""
    paths = json.loads((CACHE / "paths.json").read_text())
    return str(paths[name]["version"])
