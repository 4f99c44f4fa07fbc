"""What a module imports, read from its source: the architecture tests' one import reader.

`imported_names(path, root)` gives every module `path` imports and every name it imports from
one (``from ..supervisor import open_supervisor`` gives ``llminst.supervisor`` and
``llminst.supervisor.open_supervisor``), relative imports resolved against the module's package;
imports inside functions count too. `root` is the folder the top package sits in (``src`` for
llminst, the repository for the tests). It reads files and never imports them.
"""

from __future__ import annotations

import ast
from pathlib import Path


def package_of(path: Path, root: Path) -> str:
    """The package a module file belongs to (``llminst.cli`` for both cli/run.py and
    cli/__init__.py)."""
    return ".".join(path.relative_to(root).parts[:-1])


def imported_names_in(source: str, package: str) -> set[str]:
    """Every module `source` imports, and every name it imports from one, as absolute names;
    relative imports are resolved against `package`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = parts[: len(parts) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def imported_names(path: Path, root: Path) -> set[str]:
    """`imported_names_in` for the module file `path` under `root`."""
    return imported_names_in(path.read_text(), package_of(path, root))


def reaches(names: set[str], module: str) -> bool:
    """Whether `names` hold `module` or anything inside it."""
    return any(name == module or name.startswith(module + ".") for name in names)
