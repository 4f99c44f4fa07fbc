"""Cutting a call's output into pieces a client can take whole: the result cap and its marker.

Owns the rules for how much output one tool result may carry (`ResultCap`: a character cap, and
a token cap in Claude Code's terms, counted with the project's estimate for the claude family,
which runs high on purpose), where a piece ends (`fit`), and the marker that says how much more
there is and how to get it (`truncation_marker`). Offsets count characters (code points), so a
piece never splits one and consecutive pieces concatenate to exactly the output; a grapheme
cluster (an emoji with modifiers, a letter with combining accents) may be split between two
pieces.

Pure: no trio, no file, no environment (the caller passes ``MAX_MCP_OUTPUT_TOKENS``'s text in).
"""

from __future__ import annotations

import re

from attrs import frozen

from .errors import InvalidInputError
from .tokens import estimate_tokens

__all__ = [
    "CLAUDE_CODE_MAX_TOKENS",
    "DEFAULT_MAX_RESULT_CHARS",
    "MAX_WAIT_S",
    "Piece",
    "ResultCap",
    "check_offset",
    "fit",
    "parse_token_limit",
    "truncation_marker",
]

DEFAULT_MAX_RESULT_CHARS = 80_000
"""Output characters one tool result carries by default (English prose: ~23,000 tokens)."""
CLAUDE_CODE_MAX_TOKENS = 25_000
"""Claude Code's default ``MAX_MCP_OUTPUT_TOKENS``: it rejects a tool result over this."""
MAX_WAIT_S = 50.0
"""The longest `get_llm_result` long-poll: it answers within a 60-s client's limit."""

# No text costs more than this many tokens per character by the estimate (emoji and control
# characters cost 2): text this short needs no estimate to know it fits.
_MAX_TOKENS_PER_CHAR = 3
# Plain ASCII (no control character) costs at most this: its dearest one-character piece is a
# newline run (1.495 claude tokens), so code and English prose up to ~16,000 characters need no
# estimate either (a pass over them costs ~0.16 us a character, 2.5 ms for 16,000).
_MAX_TOKENS_PER_PLAIN_ASCII_CHAR = 1.5
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
# Room kept for what a result adds around the output (the marker, a header line).
_RESERVED_TOKENS = 400
# Characters estimated at a time: the pass stops within one block of where the budget ends.
_BLOCK = 2048


@frozen(kw_only=True)
class ResultCap:
    """How much output one tool result carries.

    Attributes:
        max_chars: characters of output at most.
        max_tokens: tokens of the whole result text at most, by the claude estimate (the
            piece is fitted to this minus room for the marker).
    """

    max_chars: int = DEFAULT_MAX_RESULT_CHARS
    max_tokens: int = CLAUDE_CODE_MAX_TOKENS

    def __attrs_post_init__(self) -> None:
        if self.max_chars < 1:
            raise InvalidInputError(
                f"max_result_chars must be a positive integer, got {self.max_chars}"
            )
        if self.max_tokens <= _RESERVED_TOKENS:
            raise InvalidInputError(
                f"the result token cap must be over {_RESERVED_TOKENS}, got {self.max_tokens} "
                "(MAX_MCP_OUTPUT_TOKENS)"
            )


def parse_token_limit(text: str | None) -> int | None:
    """``MAX_MCP_OUTPUT_TOKENS``'s value as Claude Code reads it: a positive integer, else None
    (unset, or not a number: the caller keeps the default and says so)."""
    if text is None or not text.strip().isdigit():
        return None
    value = int(text.strip())
    return value if value > _RESERVED_TOKENS else None


def fit(text: str, cap: ResultCap) -> int:
    """How many leading characters of `text` one result carries: all of it when it fits,
    else the longest prefix found within both caps (never 0 for a non-empty text).

    Tokens are estimated block by block in one pass that stops where the budget runs out;
    cutting text into blocks only adds tokens (a word cut in two counts twice), so the sum is
    never below the estimate of the whole piece.
    """
    budget = cap.max_tokens - _RESERVED_TOKENS
    limit = min(len(text), cap.max_chars)
    if limit * _MAX_TOKENS_PER_CHAR <= budget:
        return limit  # too short to be over, whatever it holds
    if limit * _MAX_TOKENS_PER_PLAIN_ASCII_CHAR <= budget and _plain_ascii(text[:limit]):
        return limit
    used = 0
    for start in range(0, limit, _BLOCK):
        block = text[start : min(start + _BLOCK, limit)]
        tokens = estimate_tokens(block, "claude").tokens
        if used + tokens > budget:  # the budget ends inside this block
            return max(1, start + _longest_prefix(block, budget - used))
        used += tokens
    return limit


def _plain_ascii(text: str) -> bool:
    return text.isascii() and _CONTROL.search(text) is None


def _longest_prefix(block: str, budget: int) -> int:
    """The longest prefix of `block` estimated within `budget` tokens (binary search)."""
    fits, over = 0, len(block)
    while over - fits > 1:
        middle = (fits + over) // 2
        if estimate_tokens(block[:middle], "claude").tokens <= budget:
            fits = middle
        else:
            over = middle
    return fits


@frozen(kw_only=True)
class Piece:
    """Characters ``[offset, next_offset)`` of an output of `total` characters (so far)."""

    text: str
    offset: int
    total: int

    @property
    def next_offset(self) -> int:
        return self.offset + len(self.text)

    @property
    def remaining(self) -> int:
        """Characters after this piece (of the output so far)."""
        return max(0, self.total - self.next_offset)


def check_offset(offset: int, total: int, *, done: bool) -> None:
    """Refuse an `offset` outside an output of `total` characters.

    Raises:
        InvalidInputError: a negative offset, or one past the output.
    """
    if offset < 0:
        raise InvalidInputError(f"offset must be 0 or more, got {offset}")
    if offset > total:
        so_far = "" if done else " so far"
        raise InvalidInputError(
            f"offset {offset} is past the end of the call's output ({total} characters{so_far}); "
            f"pass an offset from 0 to {total} (next_offset of the previous answer)"
        )


def truncation_marker(call_id: str | None, piece: Piece) -> str:
    """What follows a piece that is not the whole output: how much more, and how to get it."""
    where = (
        f'get_llm_result(call_id="{call_id}", offset={piece.next_offset}) for the next piece, '
        f"or read the resource llminst://calls/{call_id}/output for all of it"
    )
    return (
        f"\n\n[llminst: output truncated at character {piece.next_offset:,} of "
        f"{piece.total:,}; {piece.remaining:,} more characters. Use {where}.]"
    )
