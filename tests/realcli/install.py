"""Install the real LLM CLIs the `realcli` tests drive, into a cache folder inside the project.

Usage::

    python tests/realcli/install.py [NAME ...]     # default: every CLI; names: claude gemini ...

Each CLI gets its own prefix (npm) or venv (PyPI) under ``.cache/realcli/`` (override with
``LLMINST_REALCLI_CACHE``), pinned to the version the tests were written against. A CLI whose
pinned version is already there is skipped, so a second run costs a few milliseconds. Every
executable is linked into ``.cache/realcli/bin/`` and the paths are written to
``.cache/realcli/paths.json`` (and printed as JSON) for the tests to read.

Nothing is skipped silently: when an install fails, or the installed program does not run
(``--version``), the script exits 1 naming the CLI, the command and the end of its log.

claude-code's postinstall (``install.cjs``) links the native binary of its platform package
over the ``bin/claude.exe`` placeholder. npm runs it here; where install scripts are blocked
(``ignore-scripts``, npm 11's script approval) the placeholder stays, so this script runs
``node install.cjs`` itself when the executable is not a native binary, then checks
``--version`` as for every CLI.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("LLMINST_REALCLI_CACHE") or ROOT / ".cache" / "realcli")
LOG_TAIL_LINES = 25


@dataclass(frozen=True)
class Cli:
    """One CLI: where it comes from, the pinned version, the executable it provides."""

    name: str
    source: str  # "npm" or "pypi"
    packages: tuple[str, ...]  # "name==version" / "name@version"; the first is the CLI itself
    executable: str
    version: str
    postinstall: str | None = None  # a script (in the package) that must have run

    @property
    def home(self) -> Path:
        return CACHE / self.source / self.name

    @property
    def path(self) -> Path:
        if self.source == "npm":
            return self.home / "node_modules" / ".bin" / self.executable
        return self.home / "bin" / self.executable


CLIS: dict[str, Cli] = {
    cli.name: cli
    for cli in (
        Cli(
            "claude",
            "npm",
            ("@anthropic-ai/claude-code@2.1.331",),
            "claude",
            "2.1.331",
            postinstall="install.cjs",
        ),
        Cli("gemini", "npm", ("@google/gemini-cli@0.61.0",), "gemini", "0.61.0"),
        Cli("codex", "npm", ("@openai/codex@0.169.0",), "codex", "0.169.0"),
        # The last release of the openai package that still has the `openai` CLI.
        Cli("openai", "pypi", ("openai==1.109.1",), "openai", "1.109.1"),
        Cli("llm", "pypi", ("llm==0.36", "llm-echo==0.5"), "llm", "0.36"),
    )
}


class InstallError(Exception):
    """An install failed; the message says which CLI, which command and why."""


def _npm_installed_version(cli: Cli) -> str | None:
    package = cli.packages[0].rsplit("@", 1)[0]
    manifest = cli.home / "node_modules" / package / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def _pypi_installed_versions(cli: Cli) -> bool:
    """True when every pinned distribution is in the venv at its pinned version."""
    python = cli.home / "bin" / "python"
    if not python.exists():
        return False
    for requirement in cli.packages:
        name, _, version = requirement.partition("==")
        pattern = f"{name.replace('-', '_')}-{version}.dist-info"
        if not any(cli.home.glob(f"lib/python*/site-packages/{pattern}")):
            return False
    return True


def is_installed(cli: Cli) -> bool:
    if not cli.path.exists():
        return False
    if cli.source == "npm":
        return _npm_installed_version(cli) == cli.version
    return _pypi_installed_versions(cli)


def _run(cli: Cli, argv: Sequence[str], log: Path, *, env: dict[str, str] | None = None) -> None:
    with log.open("ab") as out:
        out.write(f"$ {' '.join(argv)}\n".encode())
        out.flush()
        code = subprocess.call(
            list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    if code != 0:
        raise InstallError(
            f"{cli.name}: `{' '.join(argv)}` exited with {code}; the end of {log}:\n" + _tail(log)
        )


def _tail(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines()
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _install_npm(cli: Cli, log: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise InstallError(f"{cli.name}: npm is not on PATH (install Node.js 20+ and npm)")
    cli.home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    # A private npm cache inside the project's build area: no writes to the user's ~/.npm.
    env.setdefault("npm_config_cache", str(CACHE / "npm-cache"))
    _run(
        cli,
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--prefix",
            str(cli.home),
            *cli.packages,
        ],
        log,
        env=env,
    )


def _run_postinstall(cli: Cli, log: Path) -> None:
    """Run the package's install script if npm did not (the executable is still a stub)."""
    with cli.path.open("rb") as f:
        native = f.read(4) == b"\x7fELF"
    if native or cli.postinstall is None:
        return
    package_dir = cli.path.resolve().parent.parent
    node = shutil.which("node") or "node"
    _run(cli, [node, str(package_dir / cli.postinstall)], log)


def _install_pypi(cli: Cli, log: Path) -> None:
    if cli.home.exists():
        shutil.rmtree(cli.home)  # a venv of another version or a broken one: start over
    venv.create(cli.home, with_pip=True, clear=True)
    pip = [str(cli.home / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    _run(cli, [*pip, "install", "--quiet", *cli.packages], log)


def _check_runs(cli: Cli, log: Path) -> str:
    """Run ``--version``: an install whose program does not start is a failed install."""
    env = {**os.environ, "HOME": str(CACHE / "home")}  # no session state in the user's home
    (CACHE / "home").mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            [str(cli.path), "--version"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            env=env,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallError(f"{cli.name}: {cli.path} --version failed to run: {exc}") from None
    output = (done.stdout + done.stderr).decode("utf-8", "replace").strip()
    with log.open("a") as out:
        out.write(f"$ {cli.path} --version\n{output}\n")
    if done.returncode != 0:
        raise InstallError(
            f"{cli.name}: installed, but `{cli.path} --version` exited with "
            f"{done.returncode}:\n{output[-2000:]}"
        )
    return output.splitlines()[-1] if output else ""


def install(cli: Cli) -> dict[str, str]:
    """Install `cli` unless its pinned version is there; check it runs; return its facts."""
    log = CACHE / "logs" / f"{cli.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    skipped = is_installed(cli)
    if not skipped:
        log.write_text("")
        installer: Callable[[Cli, Path], None] = (
            _install_npm if cli.source == "npm" else _install_pypi
        )
        installer(cli, log)
        if cli.source == "npm" and cli.path.exists():
            _run_postinstall(cli, log)
        if not is_installed(cli):
            raise InstallError(
                f"{cli.name}: the install finished but {cli.path} (version {cli.version}) is "
                f"not there; the end of {log}:\n{_tail(log)}"
            )
    version = _check_runs(cli, log)
    link = CACHE / "bin" / cli.executable
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(cli.path)
    return {
        "path": str(cli.path),
        "version": cli.version,
        "reports": version,
        "installed": "already there" if skipped else "now",
        "seconds": f"{time.monotonic() - started:.1f}",
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"CLIs to install (default: {' '.join(CLIS)})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(CLIS))
    if unknown:
        parser.error(f"unknown CLI(s) {', '.join(unknown)}; choose from {', '.join(CLIS)}")
    names = args.names or list(CLIS)
    results: dict[str, dict[str, str]] = {}
    failures: list[str] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(names)) as pool:
        futures = {pool.submit(install, CLIS[name]): name for name in names}
        for future in concurrent.futures.as_completed(futures):
            name = futures[future]
            try:
                results[name] = future.result()
            except InstallError as exc:
                failures.append(str(exc))
    paths_file = CACHE / "paths.json"
    known: dict[str, dict[str, str]] = {}
    with contextlib.suppress(OSError, ValueError):
        known = json.loads(paths_file.read_text())
    known.update(results)
    CACHE.mkdir(parents=True, exist_ok=True)
    paths_file.write_text(json.dumps(known, indent=2, sort_keys=True) + "\n")
    print(json.dumps({"bin": str(CACHE / "bin"), "clis": results}, indent=2, sort_keys=True))
    if failures:
        for failure in failures:
            print(f"\nINSTALL FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
