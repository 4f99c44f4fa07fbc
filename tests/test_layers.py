"""The architecture holds: each layer keeps to its wall.

- `_core` is pure: it imports only `_core`, the standard library and its few libraries (never
  trio, a process, a socket or a clock), opens no file and reads no environment.
- The supervisor (``supervisor.py`` or ``supervisor/``) is the only place with processes and
  never imports the MCP SDK nor the modules that speak MCP.
- The server (``server.py`` or ``server/``) speaks MCP and never starts a process itself.

Imports are read from the source (absolute and relative ones, resolved against the module's
package), so the checks work for a module and for a package layout alike; the fresh-interpreter
checks also catch what a module pulls in indirectly.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from .support.imports import imported_names, imported_names_in

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"
PACKAGE = SRC / "llminst"
CORE = PACKAGE / "_core"
FORBIDDEN_MODULES = {"trio", "anyio", "subprocess", "asyncio", "socket", "time", "random", "mcp"}
FORBIDDEN_CALLS = {"open", "os.environ", "os.getenv", "os.kill", "os.killpg", "time.time"}
# The libraries the pure core may use besides the standard library.
CORE_LIBRARIES = {"attrs", "cattrs", "jsonschema", "referencing"}
# What the supervisor must never import: the MCP SDK, and llminst's modules that speak MCP.
MCP_MODULES = {"mcp", "mcp_types"}
MCP_SIDE = ("llminst.server", "llminst.transports", "llminst.wire", "llminst.tool_arguments")
# Ways to start a process; the server must use none of them (the supervisor starts processes).
PROCESS_MODULES = {"subprocess", "multiprocessing", "pty", "asyncio.subprocess"}
PROCESS_CALLS = {
    "trio": {"run_process"},
    "trio.lowlevel": {"open_process"},
    "anyio": {"run_process", "open_process"},
    "asyncio": {"create_subprocess_exec", "create_subprocess_shell"},
    "os": {
        "fork",
        "forkpty",
        "system",
        "popen",
        "posix_spawn",
        "posix_spawnp",
        *(f"exec{suffix}" for suffix in ("l", "le", "lp", "lpe", "v", "ve", "vp", "vpe")),
        *(f"spawn{suffix}" for suffix in ("l", "le", "lp", "lpe", "v", "ve", "vp", "vpe")),
    },
}


def layer(name: str) -> list[Path]:
    """The modules of a layer: ``NAME.py``, or every module of the package ``NAME/``."""
    single = PACKAGE / f"{name}.py"
    package = PACKAGE / name
    return ([single] if single.exists() else []) + sorted(package.rglob("*.py"))


def module_name(path: Path, root: Path = SRC) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    return imported_names(path, SRC)


def process_starts(source: str) -> list[str]:
    """Where `source` imports or calls something that starts a process (line: what)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                f"{node.lineno}: import {a.name}" for a in node.names if a.name in PROCESS_MODULES
            ]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            if node.module in PROCESS_MODULES:
                found.append(f"{node.lineno}: from {node.module} import ...")
            risky = PROCESS_CALLS.get(str(node.module), set())
            found += [
                f"{node.lineno}: {node.module}.{a.name}" for a in node.names if a.name in risky
            ]
        elif isinstance(node, ast.Attribute):
            owner = ast.unparse(node.value)
            if node.attr in PROCESS_CALLS.get(owner, set()):
                found.append(f"{node.lineno}: {owner}.{node.attr}")
    return sorted(found, key=lambda where: int(where.split(":")[0]))


def in_core(name: str) -> bool:
    return name == "llminst._core" or name.startswith("llminst._core.")


CORE_MODULES = sorted(CORE.rglob("*.py"))
CORE_IDS = [p.relative_to(CORE).as_posix() for p in CORE_MODULES]


# --------------------------------------------------------------------------------------------
# The checker sees what it must


def test_relative_imports_are_resolved_against_the_package() -> None:
    """Regression: only absolute imports were read, so `_core` importing ``..errors`` slipped by."""
    source = (
        "import os.path\n"
        "from attrs import frozen\n"
        "from ..errors import ConfigError\n"
        "from .events import TextDelta\n"
        "from . import timeouts\n"
        "from .. import logs as _logs\n"
        "def f():\n    from ..supervisor import Supervisor\n"
    )
    assert imported_names_in(source, "llminst._core") == {
        "os.path",
        "attrs",
        "attrs.frozen",
        "llminst.errors",
        "llminst.errors.ConfigError",
        "llminst._core.events",
        "llminst._core.events.TextDelta",
        "llminst._core",
        "llminst._core.timeouts",
        "llminst",
        "llminst.logs",
        "llminst.supervisor",
        "llminst.supervisor.Supervisor",
    }
    subpackage = imported_names_in("from ..spec import X\n", "llminst._core.decoders")
    assert subpackage == {"llminst._core.spec", "llminst._core.spec.X"}
    init = imported_names(CORE / "decoders" / "__init__.py", SRC)
    assert "llminst._core.events" in init  # its `from ..events import Event`


def test_process_starts_are_found_however_they_are_written() -> None:
    """Imports of process modules, and calls through trio, anyio, asyncio and os, are seen."""
    source = (
        "import subprocess\n"
        "from trio.lowlevel import open_process\n"
        "import trio\n"
        "async def f():\n"
        "    await trio.lowlevel.open_process(['x'])\n"
        "    await trio.run_process(['x'])\n"
        "    os.fork()\n"
        "    os.execvp('x', ['x'])\n"
        "    trio.sleep(1)\n"
        "    shutil.which('x')\n"
    )
    assert [line.split(": ", 1)[1] for line in process_starts(source)] == [
        "import subprocess",
        "trio.lowlevel.open_process",
        "trio.lowlevel.open_process",
        "trio.run_process",
        "os.fork",
        "os.execvp",
    ]


# --------------------------------------------------------------------------------------------
# _core: pure


@pytest.mark.parametrize("path", CORE_MODULES, ids=CORE_IDS)
def test_core_module_imports_no_io(path: Path) -> None:
    """No _core module imports trio, anyio, subprocess, sockets, clocks or randomness."""
    assert not {name.split(".")[0] for name in imports_of(path)} & FORBIDDEN_MODULES


@pytest.mark.parametrize("path", CORE_MODULES, ids=CORE_IDS)
def test_core_module_imports_only_core_its_libraries_and_the_stdlib(path: Path) -> None:
    """A _core module imports _core, the standard library, attrs, cattrs, jsonschema and
    referencing, and nothing else."""
    outside = sorted(
        name
        for name in imports_of(path)
        if not in_core(name) and name.split(".")[0] not in CORE_LIBRARIES | sys.stdlib_module_names
    )
    assert not outside, f"{path.relative_to(SRC)} imports {outside}"


def test_core_imports_no_llminst_module_outside_core() -> None:
    """The wall: _core imports nothing of llminst outside _core (the errors and the result are
    _core's own since issue 11)."""
    outside = {
        str(path.relative_to(SRC)): sorted(
            name for name in imports_of(path) if name.startswith("llminst") and not in_core(name)
        )
        for path in CORE_MODULES
    }
    assert not {module: names for module, names in outside.items() if names}


@pytest.mark.parametrize("path", CORE_MODULES, ids=CORE_IDS)
def test_core_module_opens_no_files_and_reads_no_environment(path: Path) -> None:
    """No _core module calls open() or reads os.environ: inputs are passed in."""
    source = path.read_text()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id != "open", f"{path.name}:{node.lineno} opens a file"
        if isinstance(node, ast.Attribute) and ast.unparse(node) in FORBIDDEN_CALLS:
            raise AssertionError(f"{path.name}:{node.lineno} uses {ast.unparse(node)}")


def test_core_imports_without_trio() -> None:
    """Importing every _core module in a fresh interpreter loads no trio."""
    modules = [module_name(p) for p in CORE_MODULES]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "assert 'trio' not in sys.modules, 'trio was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------------------------
# The supervisor: processes, no MCP

SUPERVISOR_MODULES = layer("supervisor") + layer("_reaper")


def test_the_supervisor_layer_is_found() -> None:
    assert (
        PACKAGE / "supervisor.py" in SUPERVISOR_MODULES
        or PACKAGE / "supervisor" / ("__init__.py") in SUPERVISOR_MODULES
    )


@pytest.mark.parametrize(
    "path", SUPERVISOR_MODULES, ids=[p.relative_to(PACKAGE).as_posix() for p in SUPERVISOR_MODULES]
)
def test_supervisor_module_never_imports_mcp(path: Path) -> None:
    """The supervisor knows nothing of MCP: no SDK import, no import of llminst's MCP side."""
    names = imports_of(path)
    sdk = sorted(name for name in names if name.split(".")[0] in MCP_MODULES)
    upward = sorted(name for name in names if name.startswith(MCP_SIDE))
    assert not sdk and not upward, f"{path.relative_to(SRC)} imports {sdk + upward}"


def test_supervisor_imports_without_mcp() -> None:
    """Importing the supervisor in a fresh interpreter loads no MCP SDK, not even indirectly."""
    code = (
        "import sys\n"
        "import llminst.supervisor\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'mcp_types'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------------------------
# The server: MCP, no process of its own

SERVER_MODULES = layer("server")


def test_the_server_layer_is_found() -> None:
    assert (
        PACKAGE / "server.py" in SERVER_MODULES
        or PACKAGE / "server" / ("__init__.py") in SERVER_MODULES
    )


@pytest.mark.parametrize(
    "path", SERVER_MODULES, ids=[p.relative_to(PACKAGE).as_posix() for p in SERVER_MODULES]
)
def test_server_module_never_starts_a_process(path: Path) -> None:
    """The server asks the supervisor for every process: no subprocess, no open_process,
    run_process, fork or exec of its own."""
    found = process_starts(path.read_text())
    assert not found, f"{path.relative_to(SRC)} starts processes itself: {found}"


# --------------------------------------------------------------------------------------------
# Every module


def test_every_module_starts_with_a_docstring() -> None:
    """Each module says what it owns."""
    for path in (CORE.parent).rglob("*.py"):
        tree = ast.parse(path.read_text())
        assert ast.get_docstring(tree), f"{path} has no module docstring"


def test_echo_cli_starts_without_trio() -> None:
    """`python -m llminst.echo` (started once per call) imports neither trio nor the MCP SDK."""
    code = (
        "import runpy, sys\n"
        "sys.argv = ['echo', '--version']\n"
        "try:\n    runpy.run_module('llminst.echo', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "assert 'trio' not in sys.modules and 'mcp' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


# --------------------------------------------------------------------------------------------
# The tests' own layout

TEST_MODULES = sorted(p for p in TESTS.rglob("*.py") if "fixtures" not in p.parts)


def test_no_test_imports_a_test_module_or_a_conftest() -> None:
    """Shared helpers live in tests/support: a test module, a conftest (its fixtures come by
    name) and benchmarks.soak (but for the soak's own tests) are never imported."""
    offenders = []
    for path in TEST_MODULES:
        module = module_name(path, TESTS.parent)
        for name in imported_names(path, TESTS.parent):
            *_, parent, last = ["", *name.split(".")]
            soak = name == "benchmarks.soak" and not module.startswith("tests.benchmarks.")
            if last.startswith("test_") or "conftest" in (parent, last) or soak:
                offenders.append(f"{path.relative_to(TESTS)} imports {name}")
    assert not offenders


def test_support_modules_shadow_no_other_module() -> None:
    """The scripts in tests/support run with that folder first on sys.path: a helper named
    like a standard or installed module (``secrets``, ``mcp``) would replace it in them."""
    names = sorted(p.stem for p in (TESTS / "support").glob("*.py") if p.stem != "__init__")
    shadowing = [
        name
        for name in names
        if name in sys.stdlib_module_names or importlib.util.find_spec(name) is not None
    ]
    assert not shadowing
