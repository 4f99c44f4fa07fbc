"""The screen of `llminst run`: the answer, its messages and a live status line that never garbles it.

Owns: where `run` writes (`Screen`: the answer to stdout, messages and the status to stderr), the
status text (``[llminst] model · elapsed · bytes``), where on the screen it may be drawn, and a
model of where the terminal's cursor is after the answer's text (`CursorModel`). It writes only
to the streams it is given and must never write anything but the answer to the answer's stream
(stdout): the status line and messages go to the other one (stderr) alone.

When stdout goes elsewhere (a pipe, a file), the status is redrawn in place on its own line.
When stdout is the same terminal, the answer and the status share the screen:

- while the answer's current line is empty, the status is drawn on it and erased (``CR``,
  ``EL``) before the next piece of the answer;
- while the answer has a partial line (a pause mid-sentence), the status is drawn on the line
  below and the cursor is put back: ``IND RI`` first makes sure that line exists (IND scrolls
  the screen when the cursor is on its last line, and RI comes back up, both keeping the
  column), then ``DECSC IND CR EL status DECRC`` draws it and restores the cursor. Erasing it
  is the same without the text.
- The one place this cannot be done safely is a partial line that exactly fills the terminal's
  width: the cursor then waits in the "pending wrap" state, which moving away loses on some
  terminals (the next character would overwrite the line's last one). The status then stays
  hidden until the answer moves on. The same goes for a line whose width cannot be told
  (escape sequences or other control characters in the answer, a resized window).
"""

from __future__ import annotations

import functools
import os
import unicodedata
from collections.abc import Callable
from typing import TextIO

import trio

__all__ = ["CursorModel", "Screen", "StatusLine", "terminal_width"]

_ERASE_LINE = "\r\x1b[K"
_SAVE, _RESTORE = "\x1b7", "\x1b8"
_INDEX, _REVERSE_INDEX = "\x1bD", "\x1bM"
_TAB_STOP = 8
_REDRAW_S = 0.1


def terminal_width(stream: TextIO) -> int | None:
    """The width in columns of the terminal `stream` writes to, or None if it has none."""
    try:
        return os.get_terminal_size(stream.fileno()).columns or None
    except (OSError, ValueError):
        return None


def _cells(char: str) -> int | None:
    """How many columns a printable character takes; None for control characters."""
    if char.isprintable():
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            return 0
        return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return None


class CursorModel:
    """Where a terminal's cursor is after the text written to it (xterm's autowrap rules).

    Attributes:
        width: the terminal's width in columns the text was laid out for (None: unknown).
        x: the cursor's column.
        pending_wrap: the last character filled the line's last column; the next one wraps.
        known: False once the text holds something whose width cannot be told; a newline
            (or carriage return) makes the position known again.
    """

    def __init__(self, width: int | None) -> None:
        self.width = width
        self.x = 0
        self.pending_wrap = False
        self.known = width is not None

    @property
    def at_line_start(self) -> bool:
        return self.known and self.x == 0 and not self.pending_wrap

    @property
    def can_step_away(self) -> bool:
        """True when the cursor can be saved, moved and restored without losing its place."""
        return self.known and not self.pending_wrap

    def resize(self, width: int | None) -> None:
        """The terminal's width now; a partial line laid out for another width is unknown."""
        if width != self.width:
            self.width = width
            self.known = width is not None and self.at_line_start

    def feed(self, text: str) -> None:
        """Follow the cursor over `text` (as a terminal with ONLCR output processing shows it)."""
        for char in text:
            if char in "\r\n":
                self.x, self.pending_wrap, self.known = 0, False, self.width is not None
            elif self.known:
                self._advance(char)

    def _advance(self, char: str) -> None:
        width = self.width
        assert width is not None
        if char == "\t":
            self.x = min((self.x // _TAB_STOP + 1) * _TAB_STOP, width - 1)
            self.pending_wrap = False
            return
        cells = _cells(char)
        if cells is None:
            self.known = False  # an escape sequence or a control character: cannot tell
            return
        if cells == 0:
            return
        if self.pending_wrap or self.x + cells > width:
            self.x, self.pending_wrap = 0, False
        self.x += cells
        if self.x >= width:
            self.x, self.pending_wrap = width - 1, True


class StatusLine:
    """A live `model · elapsed · bytes` line on a terminal while `run` streams the answer.

    Args:
        model: the model name shown.
        out: the terminal stream to draw on (stderr).
        answer_cursor: where the answer left the cursor, when stdout is the same terminal;
            None when the answer goes elsewhere.
        width: returns the terminal's current width (None: unknown).
    """

    def __init__(
        self,
        model: str,
        *,
        out: TextIO,
        answer_cursor: CursorModel | None,
        width: Callable[[], int | None],
    ) -> None:
        self.model = model
        self.received = 0
        self._out = out
        self._answer = answer_cursor
        self._width = width
        self._shown: str | None = None  # "here" or "below"
        self._started = trio.current_time()

    async def run(self) -> None:
        """Redraw every 0.1 s until cancelled."""
        while True:
            self.draw()
            await trio.sleep(_REDRAW_S)

    def text(self, elapsed_s: float) -> str:
        size = f"{self.received / 1024:.1f} KB" if self.received >= 1024 else f"{self.received} B"
        return f"[llminst] {self.model} · {elapsed_s:.1f} s · {size}"

    def draw(self) -> None:
        width = self._width()
        text = self.text(trio.current_time() - self._started)
        if width is not None:
            text = text[: max(width - 1, 0)]  # one row, never a wrap
        answer = self._answer
        if answer is not None:
            answer.resize(width)
        if answer is None or answer.at_line_start:
            self._write(_ERASE_LINE + text, shown="here")
        elif answer.can_step_away:
            below = _SAVE + _INDEX + _ERASE_LINE + text + _RESTORE
            self._write(_INDEX + _REVERSE_INDEX + below, shown="below")
        else:
            self.erase()

    def erase(self) -> None:
        """Remove the status from the screen (before the answer or a message is written)."""
        if self._shown == "here":
            self._write(_ERASE_LINE, shown=None)
        elif self._shown == "below":
            self._write(_SAVE + _INDEX + _ERASE_LINE + _RESTORE, shown=None)

    def _write(self, data: str, *, shown: str | None) -> None:
        self._out.write(data)
        self._out.flush()
        self._shown = shown


class Screen:
    """Where `run` writes: the answer on `out` (stdout), messages and the live status on `err`.

    The status line is shown only when `err` is a terminal. When `out` is the same terminal,
    the cursor after the answer is followed, so that the status never garbles the answer and
    every message starts on a line of its own.

    Args:
        model: the model name the status line shows.
        out: the answer's stream (stdout).
        err: the stream for messages and the status line (stderr).
    """

    def __init__(self, model: str, *, out: TextIO, err: TextIO) -> None:
        self._out = out
        self._err = err
        shared = _same_terminal(out, err)
        self.cursor = CursorModel(terminal_width(out)) if shared else None
        self.status = (
            StatusLine(
                model,
                out=err,
                answer_cursor=self.cursor,
                width=functools.partial(terminal_width, err),
            )
            if err.isatty()
            else None
        )

    def answer(self, text: str) -> bool:
        """Write a piece of the answer; False once the answer's reader has gone away."""
        self.erase_status()
        try:
            self._out.write(text)
            self._out.flush()
        except BrokenPipeError:
            # Point stdout at /dev/null so the interpreter's final flush does not complain.
            os.dup2(os.open(os.devnull, os.O_WRONLY), self._out.fileno())
            return False
        if self.cursor is not None:
            self.cursor.feed(text)
        return True

    def say(self, text: str) -> None:
        """Write a message (one or more whole lines) on stderr."""
        self.erase_status()
        self.leave_answer_line()
        print(text, file=self._err, flush=True)

    def leave_answer_line(self) -> None:
        """On a shared terminal, end the answer's partial line so stderr starts a new one."""
        if self.cursor is not None and not self.cursor.at_line_start:
            print(file=self._err, flush=True)
            self.cursor.feed("\n")

    def erase_status(self) -> None:
        if self.status is not None:
            self.status.erase()


def _same_terminal(first: TextIO, second: TextIO) -> bool:
    try:
        return (
            first.isatty()
            and second.isatty()
            and os.path.samestat(os.fstat(first.fileno()), os.fstat(second.fileno()))
        )
    except (OSError, ValueError):
        return False
