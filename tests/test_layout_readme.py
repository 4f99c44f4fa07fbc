"""The README's Layout block names every module: a newcomer finds each concept by the tree."""

from __future__ import annotations

import re

from .support.paths import ROOT

SRC = ROOT / "src" / "llminst"


def _layout_block() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("```\nsrc/llminst/\n")
    return text[start : text.index("```\n", start + 4)]


def test_every_module_and_package_is_named_in_the_layout() -> None:
    block = _layout_block()
    words = set(re.findall(r"[\w.]+/?", block))
    missing = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name in {"__init__.py", "__main__.py"}:
            if path.parent != SRC and f"{path.parent.name}/" not in words:
                missing.append(f"{path.parent.relative_to(SRC)}/")
            continue
        if path.name not in words:
            missing.append(str(path.relative_to(SRC)))
    assert not missing, f"README Layout does not name: {', '.join(sorted(set(missing)))}"
