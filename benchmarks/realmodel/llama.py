"""Run llama.cpp's `llama-server` on 127.0.0.1 for the real-model tests and benchmark.

This module owns the server's flags and lifetime: a free port on loopback only, one thread
(measured 4-6x faster than two on a loaded 2-core machine), enough context per slot for codex
(its request carries ~4,560 tokens of instructions), a wait on ``/health``, and its token
count (``/metrics``: how long each call's answer was). It never
downloads or builds anything (`setup` does) and never leaves the server running: leaving the
context manager terminates it and waits for it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CONTEXT_PER_SLOT",
    "MAX_ANSWER_TOKENS",
    "LlamaServer",
    "metric",
    "run_llama_server",
    "server_argv",
    "tokens_predicted",
]

# codex sends ~4,560 tokens before the prompt: 8,192 (SmolLM2's trained context) per slot.
CONTEXT_PER_SLOT = 8192
MODEL_ALIAS = "smollm2"
START_TIMEOUT_S = 120.0  # loading 98 MB and warming up; minutes only on a very busy machine
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class LlamaServer:
    """A running server: its base URL (no path) and the log it writes."""

    url: str
    log: Path
    argv: tuple[str, ...]

    @property
    def openai_base_url(self) -> str:
        """What OPENAI_BASE_URL (and codex's provider base_url) must be."""
        return f"{self.url}/v1"


MAX_ANSWER_TOKENS = 256
"""The longest answer llama-server gives to any request (its ``--n-predict``)."""


def server_argv(
    server: Path, model: Path, port: int, *, slots: int = 1, threads: int = 1
) -> list[str]:
    """The command line: loopback, `slots` parallel sequences of CONTEXT_PER_SLOT tokens each."""
    return [
        str(server),
        "--model",
        str(model),
        "--alias",
        MODEL_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--parallel",
        str(slots),
        "--ctx-size",
        str(CONTEXT_PER_SLOT * slots),
        "--threads",
        str(threads),
        "--threads-batch",
        str(threads),
        # Greedy sampling by default: every arm gets the same answer to the same prompt, so
        # the answer's length (the model's time) does not differ between arms by chance.
        "--temp",
        "0",
        "--seed",
        "1",
        # A tiny model may never emit its end token (seen: 2,400 tokens for one codex call at
        # ~10 tokens/s, against a 300-s call timeout): the server caps the answer of every
        # request that sets no limit of its own (codex sets none; checked on /v1/responses
        # and /v1/chat/completions).
        "--n-predict",
        str(MAX_ANSWER_TOKENS),
        "--metrics",  # tokens generated so far: the section reports each call's answer length
        "--no-webui",
    ]


def metric(exposition: str, name: str) -> float:
    """The value of the sample `name` in a Prometheus text exposition (``name value`` lines)."""
    for line in exposition.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == name:
            return float(fields[1])
    raise ValueError(f"no {name} in llama-server's /metrics (is it run with --metrics?)")


def tokens_predicted(url: str) -> int:
    """How many tokens the server at `url` has generated since it started (all requests)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return int(metric(text, "llamacpp:tokens_predicted_total"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
            return bool(answer.status == 200 and json.load(answer).get("status") == "ok")
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _wait_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"llama-server exited {process.returncode} while starting:\n{tail}")
        if _healthy(url):
            return
        time.sleep(0.2)
    raise RuntimeError(f"llama-server not healthy at {url}/health after {START_TIMEOUT_S:.0f} s")


@contextlib.contextmanager
def run_llama_server(
    server: Path, model: Path, log: Path, *, slots: int = 1, threads: int = 1
) -> Iterator[LlamaServer]:
    """Start the server, wait until ``/health`` says ok, yield it; stop it when left."""
    port = _free_port()
    argv = server_argv(server, model, port, slots=slots, threads=threads)
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as sink:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink)
    try:
        _wait_healthy(process, url, log)
        yield LlamaServer(url=url, log=log, argv=tuple(argv))
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
