"""The result cap and paging (`_core.paging`): pieces within both caps that concatenate to exactly
the output, and a marker that says how to read on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llminst._core import paging
from llminst._core.errors import InvalidInputError
from llminst._core.paging import (
    CLAUDE_CODE_MAX_TOKENS,
    DEFAULT_MAX_RESULT_CHARS,
    Piece,
    ResultCap,
    check_offset,
    fit,
    parse_token_limit,
    truncation_marker,
)
from llminst._core.tokens import TokenEstimate, estimate_tokens

# One- to four-byte UTF-8 characters, a combining accent and a ZWJ emoji sequence.
MIXED = "aé€😀日\u0301👩\u200d💻\n"


def pages(text: str, cap: ResultCap) -> list[str]:
    """`text` read piece by piece as get_llm_result reads it: from each next offset."""
    pieces = []
    offset = 0
    while offset < len(text):
        rest = text[offset : offset + cap.max_chars]
        piece = rest[: fit(rest, cap)]
        assert piece, "a piece is never empty while output remains"
        pieces.append(piece)
        offset += len(piece)
    return pieces


def test_a_short_output_fits_whole() -> None:
    assert fit("hello", ResultCap()) == 5
    assert fit("", ResultCap()) == 0


def test_the_character_cap_cuts_plain_text() -> None:
    text = "word " * 100
    assert fit(text, ResultCap(max_chars=42)) == 42


@pytest.mark.parametrize(
    "text",
    [
        "😀" * 100_000,  # two tokens a character by the estimate
        "def f(x): return {'a': [1, 2]}\n" * 4000,  # code: dense in tokens
        "日本語のテキスト、" * 12_000,
    ],
    ids=["emoji", "code", "japanese"],
)
def test_the_token_cap_holds_for_dense_text(text: str) -> None:
    """A piece of text dense in tokens stays under Claude Code's 25,000 tokens by the project's
    estimate (the claude family's, which runs high), with room for the marker."""
    size = fit(text, ResultCap())
    assert 0 < size <= DEFAULT_MAX_RESULT_CHARS
    marker = truncation_marker("abc-1", Piece(text=text[:size], offset=0, total=len(text)))
    assert estimate_tokens(text[:size] + marker, "claude").tokens < CLAUDE_CODE_MAX_TOKENS
    # and it is not cut needlessly short: most of the budget is used
    assert estimate_tokens(text[:size], "claude").tokens > 0.8 * CLAUDE_CODE_MAX_TOKENS


# Every ASCII character but the control ones (which cost 2 tokens by the estimate).
PLAIN_ASCII = st.text(
    st.sampled_from([chr(c) for c in range(127) if c >= 32 or chr(c) in "\t\n\r\x0b\x0c"])
)


@given(PLAIN_ASCII)
def test_plain_ascii_is_never_estimated_above_one_and_a_half_tokens_a_character(text: str) -> None:
    """The bound `fit` trusts to skip the estimate: the dearest one-character piece of plain
    ASCII (a newline run) costs 1.495 claude tokens; emoji and control characters cost more."""
    assert estimate_tokens(text, "claude").tokens <= 1.5 * len(text)


def estimated_chars(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every text `fit` estimates from now on (the real estimate still runs)."""
    lengths: list[int] = []

    def counted(text: str, model: str) -> TokenEstimate:
        lengths.append(len(text))
        return estimate_tokens(text, model)

    monkeypatch.setattr(paging, "estimate_tokens", counted)
    return lengths


def test_plain_ascii_within_the_token_cap_by_its_bound_is_not_estimated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """16,000 characters of code (over 8,200, the bound for any text) fit whole without the
    estimate's pass over them (~2.5 ms of a call's result); with a control character in them
    the estimate runs, and the answer is the same."""
    code = ("def f(x):\n    return {'a': [1, 2]}  # comment\n" * 400)[:16_000]
    lengths = estimated_chars(monkeypatch)
    assert fit(code, ResultCap()) == 16_000
    assert lengths == []
    assert fit(code[:-1] + "\x07", ResultCap()) == 16_000
    assert sum(lengths) == 16_000


def test_prose_of_the_default_cap_fits_the_default_tokens() -> None:
    """The default 80,000 characters of English prose stay under 25,000 tokens."""
    prose = "The quick brown fox jumps over the lazy dog, then rests a while. " * 2000
    assert fit(prose, ResultCap()) == DEFAULT_MAX_RESULT_CHARS


@pytest.mark.parametrize("max_chars", range(1, len(MIXED) * 2 + 2))
def test_pages_of_multibyte_text_concatenate_exactly_at_every_boundary(max_chars: int) -> None:
    text = MIXED * 2
    assert "".join(pages(text, ResultCap(max_chars=max_chars))) == text


@given(st.text(min_size=1, max_size=300), st.integers(min_value=1, max_value=50))
def test_pages_concatenate_to_the_output(text: str, max_chars: int) -> None:
    got = pages(text, ResultCap(max_chars=max_chars))
    assert "".join(got) == text
    assert all(len(piece) <= max_chars for piece in got)
    # every piece is valid text on the wire
    assert all(piece.encode("utf-8", "surrogatepass") for piece in got)


def test_the_marker_says_how_much_more_and_how_to_get_it() -> None:
    piece = Piece(text="x" * 80_000, offset=0, total=123_456)
    marker = truncation_marker("c0ffee-7", piece)
    assert "43,456 more characters" in marker
    assert 'get_llm_result(call_id="c0ffee-7", offset=80000)' in marker
    assert "llminst://calls/c0ffee-7/output" in marker
    assert piece.next_offset == 80_000 and piece.remaining == 43_456


def test_offsets_outside_the_output_are_refused_with_the_valid_range() -> None:
    check_offset(0, 0, done=True)
    check_offset(10, 10, done=False)
    with pytest.raises(InvalidInputError, match="0 or more"):
        check_offset(-1, 10, done=True)
    with pytest.raises(InvalidInputError, match=r"past the end .*10 characters so far.*0 to 10"):
        check_offset(11, 10, done=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, None), ("", None), ("abc", None), ("-5", None), ("100", None), ("50000", 50000)],
)
def test_max_mcp_output_tokens_is_read_as_claude_code_reads_it(
    text: str | None, expected: int | None
) -> None:
    assert parse_token_limit(text) == expected


def test_a_cap_that_is_not_positive_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="max_result_chars"):
        ResultCap(max_chars=0)
    with pytest.raises(InvalidInputError, match="MAX_MCP_OUTPUT_TOKENS"):
        ResultCap(max_tokens=10)
