"""`llminst status` fits the table to where it prints: 100 columns when piped, the width of a real
pseudo-terminal otherwise, and no word of a long hint is lost."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
from pathlib import Path

from ..support.config import write_config
from ..support.paths import LLMINST
from ..support.status import LONG_HINT, hint_column, same_text


def long_hint_config(tmp_path: Path) -> Path:
    vendor = {"command": ["no-such-vendor-cli-xyz"], "install_hint": LONG_HINT}
    return write_config(tmp_path / "llminst.toml", models={"vendor": vendor})


def cli_env(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return {**env, "LLMINST_CONFIG": str(config)}


def test_llminst_status_fits_100_columns_when_not_a_terminal(tmp_path: Path) -> None:
    """Piped, `llminst status` lays the table out for 100 columns and keeps the whole hint."""
    done = subprocess.run(
        [*LLMINST, "status"],
        env=cli_env(long_hint_config(tmp_path)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100, done.stdout
    hint, _ = hint_column(lines, "vendor")
    assert same_text(hint, f"'no-such-vendor-cli-xyz' not found: {LONG_HINT}")


def test_llminst_status_fits_the_terminal_it_prints_to(tmp_path: Path) -> None:
    """On a real pseudo-terminal 72 columns wide, every line of the table fits in 72."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 72, 0, 0))
    proc = subprocess.Popen(
        [*LLMINST, "status"],
        env=cli_env(long_hint_config(tmp_path)),
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    output = b""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO once the child side is closed
            break
        if not data:
            break
        output += data
    os.close(master)
    assert proc.wait(timeout=300) == 0
    lines = output.decode().replace("\r\n", "\n").splitlines()
    assert lines and lines[0].startswith("MODEL")
    assert max(len(line) for line in lines) <= 72, output.decode()
    hint, _ = hint_column(lines, "vendor")
    assert same_text(hint, f"'no-such-vendor-cli-xyz' not found: {LONG_HINT}")
