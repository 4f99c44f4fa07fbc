"""The real-model section's limits, without a model: a call that never answers and a section
that outlasts its budget fail it with a message saying where, on trio's virtual clock; each
call's answer length comes from the server's token count.

The section itself runs opt-in (``python -m benchmarks --only realmodel``); what the real CLIs
ask of the server is checked in tests/clis/test_realmodel_answer_caps.py.
"""

from __future__ import annotations

import itertools
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest
import trio
import trio.testing
from benchmarks.realmodel import section
from benchmarks.realmodel.clis import ANSWER_CAP_ENV, cli_env
from benchmarks.realmodel.llama import MAX_ANSWER_TOKENS, LlamaServer, metric, server_argv

from llminst._core.spec import ModelSpec

from ..support.clocks import real_time_limit
from ..support.procs import processes_with_marker

SERVER = LlamaServer(url="http://127.0.0.1:9", log=Path("/dev/null"), argv=())
REAL_TIME_S = 60  # only a broken timeout waits this long: the clock is virtual


def _never_answers(marker: str) -> ModelSpec:
    """A CLI that reads nothing and never prints (a model that never stops, at worst)."""
    return ModelSpec(
        name="hang", command=(sys.executable, "-c", "import time; time.sleep(3600)", marker)
    )


# On the virtual clock trio's 5 s between SIGTERM and SIGKILL pass at once: it warns.
@pytest.mark.filterwarnings("ignore:process .* ignored SIGTERM:RuntimeWarning")
async def test_a_direct_call_that_never_answers_fails_the_section_and_ends_its_process(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    marker = f"realmodel-hang-{uuid.uuid4()}"
    spec = _never_answers(marker)

    async def direct(prompt: str) -> str:
        return await section._direct(spec, {"PATH": "/usr/bin:/bin"}, prompt)

    async with real_time_limit(REAL_TIME_S):
        with pytest.raises(section.RealModelError) as failure:
            await section._timed(direct, "hello", "claude direct, round 3 of 15")
    assert str(failure.value) == "claude direct, round 3 of 15: no answer within 300 s"
    assert processes_with_marker(marker) == []


async def test_a_failed_call_names_where_and_why() -> None:
    async def broken(prompt: str) -> str:
        raise RuntimeError("direct codex exited 1: stream error")

    async def silent(prompt: str) -> str:
        return " \n"

    with pytest.raises(
        section.RealModelError,
        match=r"^codex library, round 1 of 2: "
        r"RuntimeError: direct codex exited 1: stream error$",
    ):
        await section._timed(broken, "hi", "codex library, round 1 of 2")
    with pytest.raises(section.RealModelError, match=r"^llm direct, .*: an empty answer$"):
        await section._timed(silent, "hi", "llm direct, round 0 of 2 (warm-up)")


async def test_a_section_over_its_budget_fails_saying_where_it_was(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Calls of 40 virtual seconds against a 300-s budget: the section stops in the 4th round's
    second call and says so, with the time each CLI took to its last answer."""

    async def slow(prompt: str) -> str:
        await trio.sleep(40)
        return "Hello there, how are you?"

    async def no_tokens() -> int:
        return 0

    progress = section.Progress()
    arms: dict[str, section.Arm] = {"direct": slow, "library": slow}

    async def measure() -> None:
        await section._measure_cli("claude", arms, 15, progress, no_tokens)

    async with real_time_limit(REAL_TIME_S):
        with pytest.raises(section.RealModelError) as failure:
            await section._within_budget(300, progress, measure)
    message = str(failure.value)
    assert message.startswith(
        "the realmodel section ran out of its 300-s budget at claude direct, round 3 of 15"
    ), message
    assert "time per CLI: claude 280 s" in message and "LLMINST_REALMODEL_BUDGET_S" in message
    assert trio.current_time() == pytest.approx(300)


async def test_each_calls_answer_length_is_the_servers_token_count_across_it() -> None:
    """Warm-up round left out; the table shows tokens generated per call (median and max)."""
    # In call order: round 0 (direct, library), round 1 (library, direct), round 2.
    answers = iter([9, 7, 12, 7, 256, 7])
    count = 0

    async def tokens() -> int:
        return count

    async def answer(prompt: str) -> str:
        nonlocal count
        count += next(answers)
        return "Hi!"

    progress = section.Progress()
    await section._measure_cli("openai", {"direct": answer, "library": answer}, 2, progress, tokens)
    figures = progress.clis["openai"]
    assert figures.tokens == {"direct": [7, 256], "library": [12, 7]}
    rows, data = section._rows(progress)
    assert [row[:3] + row[-2:] for row in rows] == [
        ["openai", "direct", 2, 131.5, 256],
        ["openai", "library", 2, 9.5, 12],
    ]
    assert data["openai"]["wall_s"] == figures.wall_s >= 0


def test_every_arm_runs_its_cli_with_the_answer_capped(tmp_path: Path) -> None:
    """claude sends max_tokens 128000 unless told, and a session-title request under the SDK."""
    env = cli_env(
        tmp_path / "bin", tmp_path / "home", SERVER, {"CLAUDE_CODE_MAX_OUTPUT_TOKENS": "9"}
    )
    assert env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] == str(MAX_ANSWER_TOKENS)
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert ANSWER_CAP_ENV.items() <= env.items()


def test_the_server_counts_the_tokens_it_generates() -> None:
    argv = server_argv(Path("/x/llama-server"), Path("/m.gguf"), 8081)
    assert "--metrics" in argv
    exposition = (
        "# HELP llamacpp:tokens_predicted_total Number of generation tokens processed.\n"
        "# TYPE llamacpp:tokens_predicted_total counter\n"
        "llamacpp:prompt_tokens_total 47\n"
        "llamacpp:tokens_predicted_total 276\n"
    )
    assert metric(exposition, "llamacpp:tokens_predicted_total") == 276
    with pytest.raises(ValueError, match=r"no llamacpp:n_busy in llama-server's /metrics"):
        metric(exposition, "llamacpp:n_busy")


@pytest.mark.parametrize("names", [["direct", "library", "mcp-stdio"], ["d", "l", "m", "sdk"]])
async def test_the_arms_take_turns_first_and_after_each_other(names: list[str]) -> None:
    """A round's first call evaluates the round's new prompt, and a call after the agent SDK's
    request re-evaluates its differently laid out prefix; the others find theirs in the
    server's cache. Over a cycle of rounds each arm is first, and follows each other arm, as
    often as the rest (with a fixed order direct paid both: claude direct read 1.00 s against
    library 0.86 s, codex 2.06 s against 1.55 s)."""
    order: list[str] = []

    def arm(name: str) -> section.Arm:
        async def call(prompt: str) -> str:
            order.append(name)
            return "Hi!"

        return call

    async def no_tokens() -> int:
        return 0

    cycle = len(names) if len(names) % 2 == 0 else 2 * len(names)
    arms = {name: arm(name) for name in names}
    await section._measure_cli("llm", arms, cycle, section.Progress(), no_tokens)
    size = len(names)
    rounds = [order[i : i + size] for i in range(size, len(order), size)]  # after the warm-up
    assert sorted(order[:size]) == sorted(names)  # the warm-up: every arm once
    assert Counter(r[0] for r in rounds) == {name: cycle // size for name in names}
    pairs = Counter(pair for r in rounds for pair in itertools.pairwise(r))
    assert set(pairs.values()) == {cycle // size} and len(pairs) == size * (size - 1)
