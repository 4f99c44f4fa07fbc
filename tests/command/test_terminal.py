"""The live status line of `llminst run` on a real pseudo-terminal, and the cursor model behind it.

The screen tests run `llminst run` on a pty (pexpect) and replay everything the terminal received
through pyte, a VT100/xterm emulator, to see the screen a user would see.
"""

from __future__ import annotations

import io
import re
import sys
import time
from pathlib import Path

import pexpect
import pyte
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llminst.terminal import CursorModel

from ..support.config import write_config
from ..support.paths import LLMINST

ELAPSED = re.compile("· (\\d+\\.\\d) s ·".encode())


# --------------------------------------------------------------------------------------------
# The cursor model against a terminal emulator


def _emulated(text: str, width: int) -> tuple[int, bool]:
    screen = pyte.Screen(width, 200)
    pyte.Stream(screen).feed(text.replace("\n", "\r\n"))  # the tty's ONLCR
    if screen.cursor.x == width:  # pyte's "pending wrap": past the last column
        return width - 1, True
    return screen.cursor.x, False


@given(
    text=st.text(alphabet="ab \t\n", max_size=120),
    width=st.integers(min_value=2, max_value=30),
)
def test_cursor_model_follows_a_terminal(text: str, width: int) -> None:
    """Column and pending wrap match the emulator's for text, blanks, tabs and newlines."""
    cursor = CursorModel(width)
    cursor.feed(text)
    assert cursor.known
    assert (cursor.x, cursor.pending_wrap) == _emulated(text, width)


def test_cursor_model_counts_wide_and_combining_characters() -> None:
    """CJK characters take two columns, and one that does not fit on the line wraps (xterm;
    pyte cuts it instead); a combining mark takes none."""
    cursor = CursorModel(5)
    cursor.feed("ab中")
    assert (cursor.x, cursor.pending_wrap) == (4, False)
    cursor.feed("文")  # needs columns 4-5 of 5: wraps, then takes 0-1
    assert (cursor.x, cursor.pending_wrap) == (2, False)
    cursor.feed("e\u0301")
    assert (cursor.x, cursor.pending_wrap) == (3, False)
    cursor.feed("中")
    assert (cursor.x, cursor.pending_wrap) == (4, True)


def test_cursor_model_gives_up_on_escape_sequences_until_the_next_line() -> None:
    """Colour codes and other control characters make the column unknown; a newline restores it."""
    cursor = CursorModel(80)
    cursor.feed("plain \x1b[31mred")
    assert not cursor.known and not cursor.can_step_away and not cursor.at_line_start
    cursor.feed("\nnext")
    assert cursor.known and cursor.x == 4


def test_cursor_model_forgets_a_partial_line_when_the_terminal_is_resized() -> None:
    """A partial line laid out for another width is unknown; at a line start nothing is lost."""
    cursor = CursorModel(80)
    cursor.feed("partial")
    cursor.resize(60)
    assert not cursor.known
    fresh = CursorModel(80)
    fresh.resize(60)
    assert fresh.known and fresh.at_line_start


# --------------------------------------------------------------------------------------------
# `llminst run` on a real terminal


def _pausing_model(tmp_path: Path, before: str, after: str) -> tuple[Path, Path]:
    """A model that writes `before`, waits until the file `go` exists, then writes `after`."""
    go = tmp_path / "go"
    script = (
        "import os, sys, time\n"
        f"sys.stdout.write({before!r}); sys.stdout.flush()\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.02)\n"
        f"sys.stdout.write({after!r}); sys.stdout.flush()\n"
    )
    pause = {"command": [sys.executable, "-c", script]}
    return write_config(tmp_path / "llminst.toml", models={"pause": pause}), go


def _spawn_run(config: Path, rows: int, cols: int) -> tuple[pexpect.spawn, io.BytesIO]:
    argv = [*LLMINST, "--config", str(config), "run", "pause", "x"]
    child = pexpect.spawn(argv[0], argv[1:], dimensions=(rows, cols), timeout=60)
    received = io.BytesIO()
    child.logfile_read = received
    return child, received


def _screen(received: bytes, rows: int, cols: int) -> list[str]:
    screen = pyte.Screen(cols, rows)
    pyte.ByteStream(screen).feed(received)
    return [line.rstrip() for line in screen.display]


def test_status_line_stays_live_during_a_pause_mid_line(tmp_path: Path) -> None:
    """Regression: the status line froze once the answer had a partial line.

    The answer pauses mid-line on the last row of the screen: the elapsed time keeps being
    redrawn (on the line below), and the final screen shows the answer intact, with no status.
    """
    rows, cols = 6, 40
    lines = "".join(f"line {i}\n" for i in range(1, 6))
    config, go = _pausing_model(tmp_path, lines + "alpha ", "beta\n")
    child, received = _spawn_run(config, rows, cols)
    try:
        child.expect_exact("alpha ")
        drawn: set[bytes] = set()
        while len(drawn) < 2:  # two different elapsed times drawn during the pause
            child.expect(ELAPSED)
            drawn.add(child.match.group(1))
        go.touch()
        child.expect(pexpect.EOF)
    finally:
        go.touch()
        child.close(force=True)
    assert child.exitstatus == 0
    screen = _screen(received.getvalue(), rows, cols)
    assert screen == ["line 2", "line 3", "line 4", "line 5", "alpha beta", ""], screen


def test_status_line_keeps_off_a_line_the_answer_filled_exactly(tmp_path: Path) -> None:
    """A partial line that fills the width leaves the cursor in "pending wrap", which moving
    away loses on some terminals: the status is not drawn there, and no character is lost."""
    rows, cols = 6, 40
    config, go = _pausing_model(tmp_path, "x" * cols, "yz\n")
    child, received = _spawn_run(config, rows, cols)
    try:
        child.expect_exact("x" * cols)
        time.sleep(1.0)  # ten redraw ticks while the cursor waits at the margin
        go.touch()
        child.expect(pexpect.EOF)
    finally:
        go.touch()
        child.close(force=True)
    assert child.exitstatus == 0
    screen = _screen(received.getvalue(), rows, cols)
    assert screen[:3] == ["x" * cols, "yz", ""], screen
    assert not any("[llminst]" in line for line in screen)


@pytest.mark.parametrize("cols", [40, 12], ids=["wide", "narrow"])
def test_status_line_never_wraps(tmp_path: Path, cols: int) -> None:
    """The status is cut to the terminal's width, so drawing it never adds a line."""
    config, go = _pausing_model(tmp_path, "", "done\n")
    child, received = _spawn_run(config, 4, cols)
    try:
        child.expect(ELAPSED if cols > 30 else re.escape(b"[llminst] p"))
        go.touch()
        child.expect(pexpect.EOF)
    finally:
        go.touch()
        child.close(force=True)
    assert child.exitstatus == 0
    assert _screen(received.getvalue(), 4, cols) == ["done", "", "", ""]
