"""A model that counts its own starts: the echo CLI behind a script that logs each spawn.

`counting_echo(folder, name)` is the echo model under `name`, started through a script of its
own in `folder` (so its default account is its own, ``NAME_cli.py``) that writes a line to
``folder/NAME.spawns`` each time it starts; `spawns(folder, name)` counts them. Sub-models are
accepted (``NAME:opus``) and ignored. Tests use it to prove that something started no process.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from llminst import BUILTIN_MODELS, ModelSpec

__all__ = ["SpecMaker", "counting_echo", "spawns"]

SpecMaker = Callable[..., ModelSpec]
"""What the `counted` fixture is: ``counted(name, **fields)`` makes a counting model."""

_SCRIPT = """\
import os, sys
with open(os.environ["SPAWN_LOG"], "a") as log:
    log.write("started\\n")
from llminst.echo import main
sys.exit(main([a for a in sys.argv[1:] if not a.startswith("--model=")]))
"""


def counting_echo(folder: Path, name: str, **overrides: Any) -> ModelSpec:
    """The echo model as `name`, counting its starts; `overrides` are spec fields."""
    script = folder / f"{name}_cli.py"
    script.write_text(_SCRIPT)
    fields: dict[str, Any] = {
        "name": name,
        "command": (sys.executable, str(script)),
        "env": {"SPAWN_LOG": str(folder / f"{name}.spawns")},
        "submodel_args": ("--model={submodel}",),
        **overrides,
    }
    return attrs.evolve(BUILTIN_MODELS["echo"], **fields)


def spawns(folder: Path, name: str) -> int:
    """How many times `name`'s CLI was started."""
    log = folder / f"{name}.spawns"
    return len(log.read_text().splitlines()) if log.exists() else 0
