"""Models for the fan-out tests: each answers the same prompt its own way, and records its PID.

`fanout_fields(pidfile)` gives them as config-file tables, `fanout_specs(pidfile)` as specs:
``shout`` answers the prompt in capitals, ``fails`` exits 3 with a message on stderr, ``hangs``
prints and sleeps forever, ``tree`` does that with a grandchild in its process group, and
``records`` answers with the argv it was given as JSON (the prompt it read, for the synthesis).
Each writes its PID (and ``tree`` its grandchild's) to `pidfile`; the built-in ``echo`` answers
with the prompt itself.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from llminst import ModelSpec

from .paths import FAKECLI

_SHOUT = (
    "import os, sys\n"
    "with open(os.environ['FAKECLI_PIDFILE'], 'a') as f: f.write(f'{os.getpid()}\\n')\n"
    "print(sys.argv[-1].upper())\n"
)


def fanout_fields(pidfile: Path) -> dict[str, dict[str, Any]]:
    env = {"FAKECLI_PIDFILE": str(pidfile)}
    commands = {
        "shout": [sys.executable, "-c", _SHOUT],
        "fails": [sys.executable, FAKECLI, "fail", "3", "out of cheese"],
        "hangs": [sys.executable, FAKECLI, "hang"],
        "tree": [sys.executable, FAKECLI, "hang-tree"],
        "records": [sys.executable, FAKECLI, "dump"],
    }
    return {name: {"command": command, "env": env} for name, command in commands.items()}


def fanout_specs(pidfile: Path) -> list[ModelSpec]:
    return [ModelSpec(name=name, **fields) for name, fields in fanout_fields(pidfile).items()]
