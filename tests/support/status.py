"""Status helpers: a CLI that records its runs, and reading the `llminst status` table.

`LONG_HINT` is an install hint long enough to wrap in any table; `hint_column`,
`credentials_column` and `model_rows` read one model's cells back from the rendered lines, and
`same_text` compares a wrapped cell with the original.
"""

from __future__ import annotations

import stat
from pathlib import Path

LONG_HINT = " ".join(
    f"step{n}: fetch the vendor's installer from https://example.com/install/{n} and run it"
    for n in range(1, 6)
)


def recording_cli(tmp_path: Path) -> tuple[Path, Path]:
    """An executable that appends its arguments to a file on every run (a paid-API wrapper)."""
    log = tmp_path / "invocations"
    script = tmp_path / "wrapper"
    script.write_text(f'#!/bin/sh\necho "$*" >> {log}\necho "wrapper 9.8.7"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, log


def same_text(wrapped: str, original: str) -> bool:
    """Equal but for where the lines broke (a word longer than the column is split)."""
    return wrapped.replace(" ", "") == original.replace(" ", "")


def hint_column(lines: list[str], model: str) -> tuple[str, list[str]]:
    """The HINT / PATH text of `model`'s row and its continuation lines, and those lines."""
    rows = model_rows(lines, model)
    hint_at = lines[0].index("HINT / PATH")
    return " ".join(line[hint_at:].strip() for line in rows), rows


def credentials_column(lines: list[str], model: str) -> str:
    credentials_at, hint_at = lines[0].index("CREDENTIALS"), lines[0].index("HINT / PATH")
    return " ".join(line[credentials_at:hint_at].strip() for line in model_rows(lines, model))


def model_rows(lines: list[str], model: str) -> list[str]:
    """`model`'s row and its continuation lines (not its "version:" or "probe:" line)."""
    credentials_at, hint_at = lines[0].index("CREDENTIALS"), lines[0].index("HINT / PATH")
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [model])
    rows = [lines[start]]
    for line in lines[start + 1 :]:
        if line[:credentials_at].strip() or line[credentials_at:hint_at].strip().endswith(":"):
            break
        rows.append(line)
    return rows
