"""`llminst compare MODEL... -- PROMPT`: one prompt to several models at once, answers side by side.

Owns how a `CompareResult` is shown: on a terminal wide enough for a column of at least
`MIN_COLUMN` cells per model, a table with one column per model (rich lays it out: wrapping,
wide characters); otherwise (a narrow terminal, a pipe, a file) one answer after another under a
``== MODEL (1.23 s)`` header, plain text. An error is shown where that model's answer would be.
The synthesis, if asked for (``--synthesize MODEL``), follows. While the models run, a
terminal's stderr shows a live line (``[llminst] compare · 1/3 done · 2.4 s · 1.2 KB``),
erased before the answers are printed.

Exit status: 0 when every model answered (and the synthesis, if asked for); 1 when one or more
failed (the answers that came are still printed); 2 when the compare was refused before anything
started (unknown model, a model named twice, more than 8, a bad timeout or schema). This module
prints only; the calls run through the supervisor, which it makes a child subreaper, so a signal
kills and reaps every model's process tree before the command exits with 128 + the signal.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

import trio
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .._core.errors import LLMError
from .._core.fanout import CompareResult, answer_text
from .._core.records import CallOrigin
from .._core.result import CallResult
from ..supervisor import CallStream, open_supervisor
from ..supervisor.fanout import SYNTHESIS_LABEL
from ..terminal import StatusLine, terminal_width
from .common import Setup, open_command_store

__all__ = ["MIN_COLUMN", "compare", "render"]

MIN_COLUMN = 28  # cells: narrower columns wrap prose into a word or two a line


async def compare(args: argparse.Namespace, setup: Setup) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    schema = None
    if args.schema:
        try:
            schema = await trio.Path(args.schema).read_text(encoding="utf-8")
        except OSError as exc:
            print(f"llminst: cannot read schema file {args.schema!r}: {exc}", file=sys.stderr)
            return 2
    status = _status_line(len(args.models)) if sys.stderr.isatty() else None
    # Like `run`, `compare` owns every child of its process: descendants that left their
    # call's process group (setsid) are killed and reaped with it.
    async with (
        open_command_store(args, setup) as store,
        open_supervisor(
            models=setup.models,
            settings=setup.settings,
            subreaper=True,
            store=store,
            origin=CallOrigin.RUN,
            keep_prompts=setup.store.keep_prompts,
            budget=setup.budget,
        ) as supervisor,
        trio.open_nursery() as nursery,
    ):
        if status is not None:
            nursery.start_soon(status.line.run)
        try:
            compared = await supervisor.compare(
                prompt,
                args.models,
                timeout=args.timeout,
                json_mode=args.json or schema is not None,
                json_schema=schema,
                synthesize_with=args.synthesize,
                forward=None if status is None else status.forward,
            )
        except LLMError as exc:  # refused before any call started
            print(f"llminst: {exc.kind}: {exc.message}", file=sys.stderr)
            return 2
        finally:
            nursery.cancel_scope.cancel()
            if status is not None:
                status.line.erase()
    render(compared, sys.stdout)
    return 0 if compared.complete else 1


class _Progress:
    """The live line on a terminal's stderr while the models run:
    ``[llminst] compare · 1/3 done · 2.4 s · 1.2 KB``."""

    def __init__(self, line: StatusLine, models: int) -> None:
        self.line = line
        self._models = models
        self._ended = 0
        self._show()

    async def forward(self, label: str, stream: CallStream) -> None:
        async for chunk in stream:
            self.line.received += len(chunk.encode("utf-8", "replace"))
        if label != SYNTHESIS_LABEL:
            self._ended += 1
            self._show()

    def _show(self) -> None:
        self.line.model = f"compare · {self._ended}/{self._models} done"
        self.line.draw()  # now, so no count is missed between two redraws


def _status_line(models: int) -> _Progress:
    line = StatusLine(
        "compare", out=sys.stderr, answer_cursor=None, width=lambda: terminal_width(sys.stderr)
    )
    return _Progress(line, models)


def render(compared: CompareResult, out: TextIO) -> None:
    """Print the answers side by side if `out` is a terminal wide enough, else one by one."""
    width = terminal_width(out) if out.isatty() else None
    columns = len(compared.results)
    if width is not None and width >= columns * (MIN_COLUMN + 3) + 1:
        _side_by_side(compared, Console(file=out, width=width))
    else:
        _one_after_another(compared, out)


def _side_by_side(compared: CompareResult, console: Console) -> None:
    table = Table(show_lines=False, expand=True)
    for result in compared.results:
        table.add_column(Text(_header(result)), ratio=1, overflow="fold")
    table.add_row(*(_cell(result) for result in compared.results))
    console.print(table)
    if compared.synthesis is not None:
        console.print(Text(_header(compared.synthesis, synthesis=True), style="bold"))
        console.print(_cell(compared.synthesis))


def _one_after_another(compared: CompareResult, out: TextIO) -> None:
    shown = list(compared.results)
    if compared.synthesis is not None:
        shown.append(compared.synthesis)
    for number, result in enumerate(shown):
        synthesis = compared.synthesis is not None and number == len(shown) - 1
        if number:
            out.write("\n")
        out.write(f"== {_header(result, synthesis=synthesis)}\n")
        out.write(_body(result) + "\n")
    out.flush()


def _header(result: CallResult, *, synthesis: bool = False) -> str:
    name = f"synthesis by {result.model}" if synthesis else result.model
    state = "" if result.success else " failed"
    return f"{name}{state} ({result.duration_s:.2f} s)"


def _body(result: CallResult) -> str:
    if result.success:
        return answer_text(result).rstrip("\n")
    return f"{result.error_kind}: {result.error}"


def _cell(result: CallResult) -> Text:
    return Text(_body(result), style="" if result.success else "red")
