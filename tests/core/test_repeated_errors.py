"""The repeated-error detector (llminst._core.repeated_errors): pure, fed lines, no processes.

Also run over every recorded real-CLI output in tests/fixtures with the built-in specs: the
offline codex recording must stop, and no other recording (answers, rate limits, server errors,
missing keys) may.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llminst._core.builtins import BUILTIN_MODELS
from llminst._core.decoders import make_decoder
from llminst._core.events import ErrorNotice, TextDelta
from llminst._core.repeated_errors import (
    RepeatedError,
    RepeatedErrorDetector,
    RepeatedErrorKind,
)
from llminst._core.spec import GENERIC_UNREACHABLE_PATTERNS, ModelSpec

from ..support.paths import FIXTURES

REFUSED = "Error: connect ECONNREFUSED 127.0.0.1:8080"


def detector(
    repeats: int = 3, auth: tuple[str, ...] = (r"not logged in",)
) -> RepeatedErrorDetector:
    return RepeatedErrorDetector(
        unreachable_patterns=GENERIC_UNREACHABLE_PATTERNS, auth_patterns=auth, repeats=repeats
    )


def feed_lines(watch: RepeatedErrorDetector, lines: list[str]) -> list[RepeatedError | None]:
    return [watch.feed_stderr(f"{line}\n".encode()) for line in lines]


def test_the_third_identical_connection_error_stops() -> None:
    """Two repeats are tolerated; the third reports the line, its kind and where it came from."""
    results = feed_lines(detector(), [REFUSED] * 3)

    assert results[:2] == [None, None]
    assert results[2] == RepeatedError(RepeatedErrorKind.UNREACHABLE, REFUSED, 3, "stderr")


def test_lines_differing_only_in_digits_are_the_same_error() -> None:
    """Timestamps, attempt counters and ports change; the error is the same (codex's stderr)."""
    lines = [
        f"2026-11-25T02:27:{second:02d}.{micros}Z ERROR codex_api::endpoint::responses_websocket: "
        "failed to connect to Responses WebSocket stage=Unknown"
        for second, micros in [(18, 299348), (18, 312073), (19, 669043)]
    ]

    found = feed_lines(detector(), lines)[-1]

    assert found is not None and found.line == lines[-1]


def test_different_errors_are_counted_apart() -> None:
    """Two errors alternating stop only when one of them reaches the count."""
    other = "curl: (6) Could not resolve host: api.example.com"
    results = feed_lines(detector(), [REFUSED, other, REFUSED, other, other])

    assert results[:4] == [None] * 4
    assert results[4] is not None and results[4].line == other


def test_answer_text_disarms_the_detector() -> None:
    """A CLI that answered reaches its API: errors after (or around) answer text never stop it."""
    watch = detector()
    assert watch.feed_event(TextDelta("  \n")) is None  # blank text is no answer
    watch.feed_event(TextDelta("The answer"))

    assert feed_lines(watch, [REFUSED] * 10) == [None] * 10
    assert watch.found is None


def test_credentials_errors_are_their_own_kind_and_win_over_connection() -> None:
    """A line matching the auth patterns is a credentials error, even if it also says 'connect'."""
    line = "Error: not logged in; could not connect with the saved token"

    found = feed_lines(detector(), [line] * 3)[-1]

    assert found is not None and found.kind is RepeatedErrorKind.CREDENTIALS


def test_error_notices_from_the_output_count_too() -> None:
    """codex's structured ``error`` lines arrive as ErrorNotice events ("output")."""
    watch = detector()
    message = "Reconnecting... waiting for network (Connection failed: error sending request)"
    results = [watch.feed_event(ErrorNotice(message)) for _ in range(3)]

    assert results[2] == RepeatedError(RepeatedErrorKind.UNREACHABLE, message, 3, "output")


@pytest.mark.parametrize(
    "line",
    [
        "Attempt 2 failed with status 500. Retrying with backoff... _ApiError: internal error",
        "YOLO mode is enabled. All tool calls will be automatically approved.",
        "Reconnecting... 1/5 (stream disconnected before completion: response.failed event)",
        "Warning: the network is slow today",
        "Error: Error code: 429 - Rate limit reached for gpt-4",
        "Reading additional input from stdin...",
    ],
)
def test_ordinary_notices_never_stop(line: str) -> None:
    """Retries of server errors, rate limits and notices are not connection errors."""
    assert feed_lines(detector(), [line] * 20) == [None] * 20


def test_zero_repeats_turns_it_off() -> None:
    assert feed_lines(detector(repeats=0), [REFUSED] * 20) == [None] * 20


def test_an_unfinished_line_is_not_counted_until_its_newline() -> None:
    watch = detector(repeats=1)
    assert watch.feed_stderr(REFUSED.encode()) is None
    assert watch.feed_stderr(b"\n") is not None


def test_a_huge_line_is_matched_on_its_start() -> None:
    """Only the first 4 KiB of a line are kept; a pattern there still counts."""
    watch = detector(repeats=2)
    huge = REFUSED.encode() + b" " + b"x" * (8 << 20) + b"\n"
    results = [watch.feed_stderr(huge[i : i + 65536]) for i in range(0, len(huge), 65536)]
    assert not any(results)
    assert watch.feed_stderr(huge) is not None


@given(st.lists(st.integers(min_value=0, max_value=200), max_size=8))
def test_chunking_does_not_matter(cuts: list[int]) -> None:
    """stderr split anywhere gives the same verdict at the same byte."""
    data = f"notice\n{REFUSED}\r\n{REFUSED}\nok\n{REFUSED}\n".encode()
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    watch = detector()
    found_at = None
    for start, end in itertools.pairwise(bounds):
        if watch.feed_stderr(data[start:end]) is not None and found_at is None:
            found_at = end
    assert watch.found is not None and watch.found.line == REFUSED
    assert found_at is not None and data[:found_at].count(b"\n") == 5


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 0"):
        detector(repeats=-1)


# --- the recorded outputs of the real CLIs ---------------------------------------------------------

_FORMATS = {
    "claude": "claude",
    "gemini": "gemini",
    "codex": "codex",
    "openai": "gpt-4",
    "llm": "llm",
}


def _recordings() -> list[tuple[str, Path, Path | None]]:
    found = []
    for cli in _FORMATS:
        for path in sorted((FIXTURES / cli).glob("*.stdout")):
            found.append((cli, path, path.with_suffix(".stderr")))
        for path in sorted((FIXTURES / cli).glob("*.jsonl")):
            found.append((cli, path, None))
    return found


def _replay(spec: ModelSpec, stdout: bytes, stderr: bytes) -> RepeatedError | None:
    """Feed a recording as the supervisor would: stderr first, then each decoded event."""
    watch = RepeatedErrorDetector(
        unreachable_patterns=spec.unreachable_patterns,
        auth_patterns=spec.auth_patterns,
        repeats=3,
    )
    watch.feed_stderr(stderr)
    decoder = make_decoder(spec.output_format)
    for event in [*decoder.feed(stdout), *decoder.close()]:
        watch.feed_event(event)
    return watch.found


@pytest.mark.parametrize(
    ("cli", "stdout", "stderr"), _recordings(), ids=lambda v: v.stem if isinstance(v, Path) else v
)
def test_recorded_outputs_stop_only_when_offline(
    cli: str, stdout: Path, stderr: Path | None
) -> None:
    """Of every real recording, only codex offline (its own retries, then waiting for the
    network, for 700 s) is stopped; answers, 429s, 500s and missing keys are left alone."""
    spec = BUILTIN_MODELS[_FORMATS[cli]]
    found = _replay(spec, stdout.read_bytes(), stderr.read_bytes() if stderr else b"")

    if stdout.stem == "offline_default_provider":
        assert found is not None and found.kind is RepeatedErrorKind.UNREACHABLE
        assert found.source == "output"
        assert "failed to lookup address information" in found.line
    else:
        assert found is None, found
