"""Where JSON may be in free-form text: balanced bracket spans and Markdown code fences.

Model output is prose, code fences and JSON mixed. This module finds the places worth handing to
a JSON parser, in one bounded pass: `balanced_spans` (every ``{...}``/``[...]`` span that could
start a JSON value, with the spans nested in it) and `fenced_blocks` (the bodies of ``json`` or
unlabelled code fences). It never parses or validates JSON (that is `jsonmode`'s) and never does
I/O; its work is linear in the text's length whatever the text holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

import attrs

__all__ = [
    "MAX_FENCED_BLOCKS",
    "MAX_SPANS",
    "MAX_VALUE_DEPTH",
    "Span",
    "balanced_spans",
    "fenced_blocks",
]

MAX_SPANS: Final = 64
"""How many spans are kept at top level and directly inside each span (`jsonmode` parses at most
this many, so more could never be reached)."""
MAX_VALUE_DEPTH: Final = 128
"""Bracketed spans nested deeper than this are not parsed (their inner spans still are)."""
MAX_FENCED_BLOCKS: Final = 32
"""How many code fences are looked at, at most."""


@attrs.frozen
class Span:
    """A balanced bracket pair at ``text[start:end]`` and the spans directly inside it."""

    start: int
    end: int
    children: list[Span]


class _Frame:
    """An open bracket on the scan's stack (a plain class: one is made per opening bracket)."""

    __slots__ = ("children", "height", "opener", "start")

    def __init__(self, opener: str, start: int) -> None:
        self.opener = opener
        self.start = start
        self.children: list[Span] = []
        self.height = 0
        """How deeply brackets nest inside this one so far."""


_NORMAL: Final = re.compile(r'[\[\]{}"]')
_IN_STRING: Final = re.compile(r'["\\\n]')
_OPENER_OF: Final = {"}": "{", "]": "["}
_PLAUSIBLE: Final = re.compile(r'\{\s*["}]|\[\s*[\[\]{"\-0-9tfn]')
"""How a JSON object or array can start; other spans are not worth parsing."""


def balanced_spans(text: str) -> list[Span]:
    """The top-level balanced ``{...}``/``[...]`` spans of `text`, each with its nested spans.

    One left-to-right pass with a stack of open brackets, jumping between bracket and quote
    characters with a regex. Outside any bracket, quotes are prose and ignored; inside, a ``"``
    starts a JSON string in which brackets and escaped characters do not count, ended by the
    next unescaped ``"`` (or a newline, which a JSON string cannot hold). A closer pops back to
    the nearest opener of its kind (the openers it skips were unbalanced, and their spans move up
    to their parent); a closer with no such opener is ignored. Spans that cannot start a JSON
    value (``{name}``, ``[see above]``) or nest deeper than `MAX_VALUE_DEPTH` are dropped but
    their insides kept. Each span keeps at most `MAX_SPANS` children and at most that many
    top-level spans are returned (each costs a parse, and `jsonmode` parses no more than
    `MAX_SPANS`), so the pass stops once no more could be kept.
    """
    roots: list[Span] = []
    stack: list[_Frame] = []
    open_counts = {"{": 0, "[": 0}
    pos = 0
    in_string = False
    while stack or len(roots) < MAX_SPANS:
        match = (_IN_STRING if in_string else _NORMAL).search(text, pos)
        if match is None:
            break
        char, pos = match.group(), match.end()
        if in_string:
            if char == "\\":
                pos += 1
            else:
                in_string = False
        elif char == '"':
            in_string = bool(stack)
        elif char in "{[":
            stack.append(_Frame(char, match.start()))
            open_counts[char] += 1
        elif open_counts[_OPENER_OF[char]]:
            _close(text, stack, roots, open_counts, _OPENER_OF[char], pos)
    while stack:
        _drop(stack.pop(), stack, roots)
    return roots


def _close(
    text: str,
    stack: list[_Frame],
    roots: list[Span],
    open_counts: dict[str, int],
    opener: str,
    end: int,
) -> None:
    """Pop frames down to the nearest `opener`, which becomes a span; the others are dropped."""
    while True:
        frame = stack.pop()
        open_counts[frame.opener] -= 1
        if frame.opener == opener:
            break
        _drop(frame, stack, roots)
    height = frame.height + 1
    if stack:
        stack[-1].height = max(stack[-1].height, height)
    siblings = stack[-1].children if stack else roots
    if height > MAX_VALUE_DEPTH or not _PLAUSIBLE.match(text, frame.start):
        _keep(siblings, frame.children)
    elif len(siblings) < MAX_SPANS:
        siblings.append(Span(frame.start, end, frame.children))


def _drop(frame: _Frame, stack: list[_Frame], roots: list[Span]) -> None:
    """An unbalanced opener: its spans move up to its parent."""
    if stack:
        stack[-1].height = max(stack[-1].height, frame.height)
    _keep(stack[-1].children if stack else roots, frame.children)


def _keep(siblings: list[Span], spans: list[Span]) -> None:
    if spans and len(siblings) < MAX_SPANS:
        siblings.extend(spans[: MAX_SPANS - len(siblings)])


def fenced_blocks(text: str) -> Iterator[str]:
    """The bodies of Markdown code fences labelled ``json`` (or not labelled), in order."""
    pos = 0
    for _ in range(MAX_FENCED_BLOCKS):
        start = text.find("```", pos)
        eol = text.find("\n", start + 3) if start >= 0 else -1
        if eol < 0:
            return
        label = text[start + 3 : eol].strip().lower()
        if "```" in label:  # inline code on one line, not a fence
            pos = start + 3 + text[start + 3 : eol].index("```") + 3
            continue
        close = text.find("```", eol + 1)
        if close < 0:
            return
        if label in ("", "json", "jsonc", "json5", "jsonl"):
            yield text[eol + 1 : close]
        pos = close + 3
