"""The gpt-4 (openai CLI) and llm specs' patterns over the real CLIs' recorded outputs.

tests/fixtures/openai/ and tests/fixtures/llm/ hold what `openai` 1.109.1 and `llm` 0.36 printed
against the fake OpenAI API (recorded by tests/clis/test_realcli_openai_llm_ollama.py). Pure: no
process runs.
"""

from __future__ import annotations

import re

import pytest

from llminst import BUILTIN_MODELS
from llminst._core.ratelimit import detect_rate_limit

from ..support.paths import FIXTURES

SPECS = {"openai": BUILTIN_MODELS["gpt-4"], "llm": BUILTIN_MODELS["llm"]}
NAMES = ("plain", "stream", "rate_limit_429", "server_error_500", "no_key")


def _said(cli: str, name: str) -> str:
    folder = FIXTURES / cli
    return (folder / f"{name}.stdout").read_text() + (folder / f"{name}.stderr").read_text()


def _matches(patterns: tuple[str, ...], text: str) -> bool:
    return any(re.search(p, text, re.IGNORECASE) for p in patterns)


@pytest.mark.parametrize("cli", sorted(SPECS))
@pytest.mark.parametrize("name", NAMES)
def test_auth_patterns_match_only_the_missing_key_output(cli: str, name: str) -> None:
    """Only the missing-key output reads as missing credentials."""
    assert _matches(SPECS[cli].auth_patterns, _said(cli, name)) == (name == "no_key")


@pytest.mark.parametrize("cli", sorted(SPECS))
@pytest.mark.parametrize("name", NAMES)
def test_rate_limit_patterns_match_only_the_429_output(cli: str, name: str) -> None:
    """Only the 429 output reads as a rate limit (a 500 is not retried as one)."""
    hit = detect_rate_limit(_said(cli, name), SPECS[cli].rate_limit_patterns, now=0.0)
    assert (hit is not None) == (name == "rate_limit_429")


@pytest.mark.parametrize("cli", sorted(SPECS))
def test_the_429_retry_hint_is_read(cli: str) -> None:
    """OpenAI's "Please try again in 1s." becomes the retry delay."""
    hit = detect_rate_limit(_said(cli, "rate_limit_429"), SPECS[cli].rate_limit_patterns, now=0.0)
    assert hit is not None and hit.retry_after_s == 1.0


@pytest.mark.parametrize("cli", sorted(SPECS))
def test_exit_codes(cli: str) -> None:
    """Both CLIs exit 0 on success and 1 on every failure recorded."""
    codes = {n: int((FIXTURES / cli / f"{n}.exit").read_text()) for n in NAMES}
    assert codes == {n: 0 if n in ("plain", "stream") else 1 for n in NAMES}


def test_openai_missing_key_is_a_traceback() -> None:
    """openai 1.109.1 without a key dies in a Python traceback (no friendly message)."""
    stderr = (FIXTURES / "openai" / "no_key.stderr").read_text()
    assert stderr.startswith("Traceback (most recent call last):")
    assert stderr.rstrip().endswith("OPENAI_API_KEY environment variable")


def test_openai_colours_its_errors_even_when_piped() -> None:
    """openai prints ``Error:`` in red (ANSI) even into a pipe."""
    stderr = (FIXTURES / "openai" / "rate_limit_429.stderr").read_text()
    assert stderr.startswith("\x1b[91mError:\x1b[0m Error code: 429 - ")
