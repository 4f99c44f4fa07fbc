"""The real cc_executor as a benchmark peer: find it, give it a venv and Redis, start and stop it.

This module owns the life of one cc_executor server (grahama1970/cc_executor, GPL-3.0, last
commit 0a5e5b4): it is run as a separate program from a tree the user points at
(``--cc-executor PATH`` or ``$LLMINST_CC_EXECUTOR``: the unpacked tree or its ``.tar.gz``, which
is unpacked into ``.cache/cc_executor/``), never imported and never copied into llminst. It must
never edit the peer's files, bind anything but 127.0.0.1, or leave a process behind.

What `open_cc_executor` does, in order:

1. A venv of its own in ``.cache/cc_executor/venv`` with only the packages its server's imports
   need (`REQUIREMENTS`; installed once, remembered by a stamp file).
2. Redis: Debian's ``redis-server`` on 127.0.0.1:6379, no persistence, data in a scratch folder.
   The port cannot be chosen: the peer's code calls ``redis.Redis()`` with the defaults and runs
   ``redis-cli`` without ``-p`` (its ``REDIS_HOST``/``REDIS_PORT`` variables reach only a few
   modules). So the peer is `Unavailable` when 6379 is taken; a Redis already there is never used.
3. The server as its own CLI starts it (``cc-executor server start``: ``python -m uvicorn
   cc_executor.core.main:app``), from the tree's root, on a free loopback port, with its hooks
   (``.claude-hooks.json``, ``src/cc_executor/hooks/``) as shipped and HOME in a scratch folder
   (its hooks write there). Ready when ``/healthz`` answers.
4. On exit: SIGTERM to each process group, SIGKILL after a grace period, then every process that
   carries this run's marker variable (hooks and commands start their own sessions) is killed
   and counted in `CCExecutor.leftovers`, which a clean run leaves at 0.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.peers import ROOT

__all__ = [
    "ENV_VAR",
    "REDIS_PORT",
    "REQUIREMENTS",
    "CCExecutor",
    "Unavailable",
    "configured_path",
    "open_cc_executor",
]

ENV_VAR = "LLMINST_CC_EXECUTOR"
CACHE = ROOT / ".cache" / "cc_executor"
REDIS_PORT = 6379  # fixed by the peer's code (see the module docstring)
# What `python -m uvicorn cc_executor.core.main:app` imports, found by starting it: its
# requirements.txt also lists typer, rich, httpx, aiofiles, pydantic-settings, which the server
# does not import, and lacks json_repair and rank_bm25, which it does.
REQUIREMENTS = (
    "fastapi",
    "uvicorn",
    "websockets",
    "loguru",
    "redis",
    "psutil",
    "pydantic",
    "python-daemon",
    "python-dotenv",
    "tenacity",
    "json_repair",
    "rank_bm25",
)
MARKER = "LLMINST_BENCH_CC_EXECUTOR_RUN"
ENABLE_HINT = (
    f"run `python -m benchmarks --cc-executor PATH` or set ${ENV_VAR}=PATH, PATH being the "
    "unpacked cc_executor tree or its .tar.gz (e.g. ../shared/peers/cc_executor-0a5e5b4.tar.gz)"
)
_START_S = 90.0
_GRACE_S = 10.0


class Unavailable(Exception):
    """The peer cannot run here; the message says why and what to do."""


@dataclass
class CCExecutor:
    """A running cc_executor: where to connect and which processes are its."""

    url: str
    server_pid: int
    redis_pid: int
    cold_start_s: float
    tree: Path
    log: Path
    leftovers: list[int] = field(default_factory=list)


def configured_path(option: str | None = None) -> str | None:
    """The peer's path from the option, else from ``$LLMINST_CC_EXECUTOR`` (None: not set)."""
    return option or os.environ.get(ENV_VAR) or None


def peer_tree(path: str | Path) -> Path:
    """The tree holding ``src/cc_executor``: `path` itself, or its tarball unpacked in the cache."""
    source = Path(path).expanduser().resolve()
    if source.is_file() and source.name.endswith((".tar.gz", ".tgz")):
        target = CACHE / source.name.removesuffix(".gz").removesuffix(".tar").removesuffix(".tgz")
        if not (target / ".unpacked").exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            with tarfile.open(source) as archive:
                archive.extractall(target, filter="data")
            (target / ".unpacked").touch()
        source = target
    for candidate in (source, *sorted(p for p in source.glob("*") if p.is_dir())):
        if (candidate / "src" / "cc_executor" / "core" / "main.py").is_file():
            return candidate
    raise Unavailable(f"{path}: no src/cc_executor/core/main.py in it or one level down")


def peer_python() -> Path:
    """The venv's interpreter, created with `REQUIREMENTS` on first use (pip from PyPI)."""
    venv = CACHE / "venv"
    python = venv / "bin" / "python"
    stamp = venv / "llminst-requirements.txt"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"[bench] installing cc_executor's imports into {venv} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *REQUIREMENTS],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise Unavailable(f"pip could not install {' '.join(REQUIREMENTS)}: {done.stderr[-800:]}")
    stamp.write_text(wanted)
    return python


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def _wait_until(
    ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str, log: Path
) -> None:
    deadline = time.monotonic() + _START_S
    while not ready():
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            raise Unavailable(f"{what} exited with status {process.returncode}: {tail}")
        if time.monotonic() > deadline:
            raise Unavailable(f"{what} was not ready within {_START_S:.0f} s (log: {log})")
        time.sleep(0.1)


def _start(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to its group, `_GRACE_S`, SIGKILL to the group; reaped."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)
        try:
            process.wait(timeout=_GRACE_S)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # anything left in the group after its leader


def _leftovers(token: str) -> list[int]:
    from benchmarks.procs import processes_with_env

    found = processes_with_env(MARKER, token)
    for pid in found:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return found


def _check_prerequisites() -> str:
    """The path of ``redis-server``; Unavailable when it is missing or 6379 is taken."""
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        raise Unavailable("no redis-server on PATH (Debian: apt-get install redis-server)")
    if _port_in_use(REDIS_PORT):
        raise Unavailable(
            f"127.0.0.1:{REDIS_PORT} is taken; cc_executor reaches Redis only there (its code "
            "uses redis.Redis() defaults and redis-cli without -p), and the benchmark never "
            "uses a Redis it did not start: stop that one to run this peer"
        )
    return redis_server


def _start_redis(redis_server: str, env: dict[str, str], scratch: Path) -> subprocess.Popen[bytes]:
    argv = [redis_server, "--port", str(REDIS_PORT), "--bind", "127.0.0.1"]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(scratch)]
    return _start(argv, env, scratch, scratch / "redis.log")


def _start_server(
    python: Path, tree: Path, env: dict[str, str], log: Path
) -> tuple[subprocess.Popen[bytes], int]:
    """``python -m uvicorn cc_executor.core.main:app`` on a free port, as its CLI starts it."""
    port = _free_port()
    server_env = {
        **env,
        "PYTHONPATH": str(tree / "src"),
        "REDIS_HOST": "127.0.0.1",  # read by the few modules that look
        "REDIS_PORT": str(REDIS_PORT),
    }
    argv = [str(python), "-m", "uvicorn", "cc_executor.core.main:app"]
    argv += ["--host", "127.0.0.1", "--port", str(port)]
    return _start(argv, server_env, tree, log), port


@contextlib.contextmanager
def open_cc_executor(path: str | Path, workdir: Path) -> Iterator[CCExecutor]:
    """Run cc_executor from `path` (tree or tarball) with its own Redis; yield where it listens.

    On exit every process of the run is stopped; `CCExecutor.leftovers` lists those that had
    to be found by their marker variable and killed (none in a clean run).

    Raises:
        Unavailable: no peer at `path`, no ``redis-server``, port 6379 taken, pip failed, or the
            server did not come up (the message holds its log's tail).
    """
    tree = peer_tree(path)
    redis_server = _check_prerequisites()
    python = peer_python()
    token = uuid.uuid4().hex
    scratch = workdir / f"cc_executor-{token[:8]}"
    (scratch / "home").mkdir(parents=True)  # its hooks write under HOME
    env = {**os.environ, MARKER: token, "HOME": str(scratch / "home")}
    env.pop("PYTHONPATH", None)
    redis = _start_redis(redis_server, env, scratch)
    server: subprocess.Popen[bytes] | None = None
    peer: CCExecutor | None = None
    try:
        _wait_until(_redis_answers, redis, "redis-server", scratch / "redis.log")
        started = time.monotonic()
        server, port = _start_server(python, tree, env, scratch / "server.log")
        _wait_until(
            lambda: _healthy(port), server, "the cc_executor server", scratch / "server.log"
        )
        peer = CCExecutor(
            url=f"ws://127.0.0.1:{port}/ws/mcp",
            server_pid=server.pid,
            redis_pid=redis.pid,
            cold_start_s=time.monotonic() - started,
            tree=tree,
            log=scratch / "server.log",
        )
        yield peer
    finally:
        if server is not None:
            _stop(server)
        _stop(redis)
        left = _leftovers(token)
        if peer is not None:
            peer.leftovers = left
