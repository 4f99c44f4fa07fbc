"""Tests for llminst._core.timeouts: prompt-based category selection and the timeout choice."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llminst._core.errors import InvalidInputError
from llminst._core.timeouts import (
    QUICK_MAX_CHARS,
    TimeoutCategory,
    TimeoutChoice,
    resolve_timeout,
    select_category,
)

QUICK, NORMAL, LONG, EXTENDED = (
    TimeoutCategory.QUICK,
    TimeoutCategory.NORMAL,
    TimeoutCategory.LONG,
    TimeoutCategory.EXTENDED,
)


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        # quick: short, simple questions
        ("what is 2+2", QUICK),
        ("What's 17 * 3?", QUICK),
        ("12 / 4 =", QUICK),
        ("translate 'hello' to French", QUICK),
        ("Is Paris the capital of France? Answer yes or no.", QUICK),
        ("Describe the sky in one word.", QUICK),
        ("True or false: water boils at 100 C at sea level", QUICK),
        ("Reply with just the number of legs a spider has", QUICK),
        # normal: everything else that matched no rule
        ("Explain how a hash map works.", NORMAL),
        ("Write a haiku about autumn", NORMAL),
        ("Summarize this paragraph in 100 words: ...", NORMAL),
        ("what is the meaning of life", NORMAL),
        ("", NORMAL),
        # long: long outputs asked for
        ("Write a comprehensive guide to Rust lifetimes", LONG),
        ("Produce a detailed report on our Q3 incidents", LONG),
        ("Give me an in-depth analysis of the French revolution", LONG),
        ("Write a step by step tutorial for setting up nginx", LONG),
        ("Write a 2000 word essay on climate change", LONG),
        ("Write a 3,000-word article about trio", LONG),
        ("an essay of 1500+ words", LONG),
        ("Write 3 pages on the history of Unix", LONG),
        ("Do a thorough security review of this function", LONG),
        ("x" * 20_000, LONG),
        # extended: whole-project work, very long outputs, huge prompts
        ("Write a 5,000 words story", EXTENDED),
        ("Write a 10k-word report", EXTENDED),
        ("Write 10 pages about the Roman empire", EXTENDED),
        ("Analyze the entire codebase for race conditions", EXTENDED),
        ("Document the whole repository", EXTENDED),
        ("Please analyze all files in src/ and list the bugs", EXTENDED),
        ("Refactor the whole project to use trio", EXTENDED),
        ("Review every Python file under tests", EXTENDED),
        ("Write a novel about a lighthouse keeper", EXTENDED),
        ("write me a short fantasy book", EXTENDED),
        ("x" * 100_000, EXTENDED),
        # the highest matching rule wins; a long prompt is never quick
        ("In one word: write a comprehensive guide?", LONG),
        ("what is 2+2 " + "please " * (QUICK_MAX_CHARS // 7), NORMAL),
        ("Write a book report on Dune", NORMAL),
    ],
)
def test_select_category(prompt: str, expected: TimeoutCategory) -> None:
    """Each prompt gets the category its length and wording call for."""
    assert select_category(prompt) is expected


def test_select_is_case_insensitive() -> None:
    """Phrases match regardless of case."""
    assert select_category("WRITE A COMPREHENSIVE GUIDE TO SQL") is LONG
    assert select_category("YES OR NO?") is QUICK


@pytest.mark.parametrize(
    ("prompt", "default", "expected"),
    [
        ("Explain hash maps", NORMAL, "normal"),
        ("Explain hash maps", QUICK, "quick"),
        ("Explain hash maps", LONG, "long"),
        ("Write a comprehensive guide to SQL", NORMAL, "long"),
        ("Write a comprehensive guide to SQL", QUICK, "long"),
        ("Write a comprehensive guide to SQL", EXTENDED, "extended"),
        ("Analyze the entire codebase", LONG, "extended"),
        # QUICK from the prompt never lowers the default
        ("what is 2+2", NORMAL, "normal"),
        ("what is 2+2", LONG, "long"),
        ("what is 2+2", QUICK, "quick"),
    ],
)
def test_resolve_is_max_of_default_and_prompt(
    prompt: str, default: TimeoutCategory, expected: str
) -> None:
    """Without an explicit timeout the category is max(default, prompt's category)."""
    choice = resolve_timeout(prompt, explicit=None, default=default)
    assert choice == TimeoutChoice(seconds=TimeoutCategory(expected).seconds, category=expected)


def test_resolve_default_is_normal() -> None:
    """The default category is NORMAL."""
    assert resolve_timeout("hello", explicit=None) == TimeoutChoice(300.0, "normal")


@pytest.mark.parametrize("explicit", [0.5, 1, 30, 3600.0, 86400, 86400.0])
def test_explicit_wins(explicit: float) -> None:
    """An explicit timeout wins over the prompt and the default."""
    choice = resolve_timeout(
        "Analyze the entire codebase", explicit=explicit, default=TimeoutCategory.LONG
    )
    assert choice == TimeoutChoice(seconds=float(explicit), category="explicit")
    assert type(choice.seconds) is float


@pytest.mark.parametrize(
    "explicit",
    [
        0,
        0.0,
        -1,
        -0.5,
        math.nan,
        math.inf,
        -math.inf,
        1e9,
        10**400,
        86400.001,
        True,
        False,
        "30",
        [30],
    ],
)
def test_invalid_explicit_raises(explicit: object) -> None:
    """Explicit timeouts outside (0, 86400], non-finite or not numbers (bool included) are rejected."""
    with pytest.raises(InvalidInputError) as info:
        resolve_timeout("hi", explicit=explicit)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"timeout must be between 0 and 86400 seconds, got {explicit!r}; "
        "omit it to pick a category from the prompt"
    )
    assert isinstance(info.value, ValueError)


@given(prompt=st.text(max_size=2000), default=st.sampled_from(TimeoutCategory))
def test_resolve_never_lowers_default(prompt: str, default: TimeoutCategory) -> None:
    """For any prompt the chosen timeout is at least the default's."""
    choice = resolve_timeout(prompt, explicit=None, default=default)
    assert choice.seconds >= default.seconds
    assert choice.category in {c.value for c in TimeoutCategory}


@pytest.mark.parametrize(
    "prompt",
    [
        "write" + " " * 19_000,
        "comprehensive " + "a" * 19_000,
        "analyze all " * 1_500,
        "1" * 19_000 + " words",
        "1," * 9_000 + " words",
    ],
)
def test_adversarial_prompts_are_cheap(prompt: str) -> None:
    """Long pathological prompts finish quickly (bounded regexes)."""
    select_category(prompt)
