"""The shell's modules keep to the rule each one's docstring states (the command line, the
transports, the demo and the terminal screen), checked on their imports and names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .support.imports import imported_names, reaches

SRC = Path(__file__).parent.parent / "src" / "llminst"


def _modules(*names: str) -> list[Path]:
    paths: list[Path] = []
    for name in names:
        target = SRC / name
        paths += sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")]
    return paths


def _imported(path: Path) -> set[str]:
    """Every module `path` imports, relative imports resolved to ``llminst.…`` names."""
    return imported_names(path, SRC.parent)


def test_relative_imports_resolve() -> None:
    """The check below sees through relative imports (``from ..supervisor import …``)."""
    run = _imported(SRC / "cli" / "run.py")
    assert "llminst.supervisor.open_supervisor" in run
    assert "llminst.terminal.Screen" in run


@pytest.mark.parametrize(
    "path", _modules("cli", "transports", "demo"), ids=lambda p: str(p.relative_to(SRC))
)
def test_the_shell_never_starts_a_process_itself(path: Path) -> None:
    """Processes are the supervisor's: the command line and the transports import neither
    subprocess nor the supervisor's process helpers (the demo starts its server through the
    MCP SDK's client)."""
    imported = _imported(path)
    for forbidden in ("subprocess", "multiprocessing", "llminst._reaper"):
        assert not reaches(imported, forbidden), f"{path.name} imports {forbidden}"


@pytest.mark.parametrize("path", _modules("transports"), ids=lambda p: p.name)
def test_transports_know_no_tools_and_no_calls(path: Path) -> None:
    """A transport moves bytes to and from the SDK's server: it never imports the supervisor,
    the server's tools or the command line."""
    imported = _imported(path)
    for forbidden in ("llminst.supervisor", "llminst.server", "llminst.cli"):
        assert not reaches(imported, forbidden), f"{path.name} imports {forbidden}"


def test_the_demo_is_a_client_only() -> None:
    """`llminst demo` shows what any MCP client sees: it imports neither the server nor the
    supervisor."""
    imported = _imported(SRC / "demo.py")
    for forbidden in ("llminst.server", "llminst.supervisor", "mcp.server"):
        assert not reaches(imported, forbidden), f"demo.py imports {forbidden}"


def test_the_terminal_writes_only_to_the_streams_it_is_given() -> None:
    """terminal.py never names sys.stdout or sys.stderr: `Screen` and `StatusLine` are handed
    their streams, so the status line cannot end up in the answer."""
    tree = ast.parse((SRC / "terminal.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert (node.value.id, node.attr) not in {("sys", "stdout"), ("sys", "stderr")}, (
                f"terminal.py:{node.lineno} names sys.{node.attr}"
            )
