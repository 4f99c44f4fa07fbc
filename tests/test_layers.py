"""The architecture holds: the pure core never imports trio or touches processes, files or clocks."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).parent.parent / "src" / "llminst" / "_core"
FORBIDDEN_MODULES = {"trio", "anyio", "subprocess", "asyncio", "socket", "time", "random", "mcp"}
FORBIDDEN_CALLS = {"open", "os.environ", "os.getenv", "os.kill", "os.killpg", "time.time"}


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_module_imports_no_io(path: Path) -> None:
    """No _core module imports trio, anyio, subprocess, sockets, clocks or randomness."""
    tree = ast.parse(path.read_text())
    assert not _imports(tree) & FORBIDDEN_MODULES


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
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
    modules = [f"llminst._core.{p.stem}" for p in CORE.glob("*.py") if p.stem != "__init__"]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "assert 'trio' not in sys.modules, 'trio was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


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
