"""compare_llms through the SDK's in-memory client: every model's answer side by side, progress
labelled with its model, refusals before anything starts, and cancellation that leaves nothing.

Both of the client's dispatchers (`mode`); the models are tests/support/fanout_models.py.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import anyio
import trio

from ..support.fanout_models import fanout_specs
from ..support.procs import is_alive, read_pids, wait_for_pids
from ..support.progress import ProgressRecorder
from ..support.tools import connect, text_of


async def test_progress_says_which_model_each_chunk_is_from(mode: str, tmp_path: Path) -> None:
    """Each notification's message starts with "[MODEL] "; per model, the chunks spell that
    model's answer, and the progress counter increases across all of them."""
    progress = ProgressRecorder()
    async with connect(mode, *fanout_specs(tmp_path / "pids")) as client:
        result = await client.call_tool(
            "compare_llms",
            {"prompt": "[[echo:delay=0.05]] one two three", "models": ["echo", "shout"]},
            progress_callback=progress,
        )
        # The client runs callbacks in tasks of their own: wait for the last ones.
        expected = {"echo": "one two three", "shout": "[[ECHO:DELAY=0.05]] ONE TWO THREE\n"}
        with anyio.move_on_after(10):
            while _by_model(progress.chunks) != expected:  # noqa: ASYNC110
                await anyio.sleep(0.01)
    assert not result.is_error, text_of(result)
    assert _by_model(progress.chunks) == expected
    assert len([m for m in progress.chunks if m.startswith("[echo] ")]) >= 2  # streamed
    counters = [p for p, _ in progress.ordered]
    assert counters == list(range(1, len(counters) + 1))


def _by_model(chunks: list[str]) -> dict[str, str]:
    """The text of each model's notifications: "[echo] one " -> {"echo": "one "}."""
    texts: dict[str, str] = defaultdict(str)
    for message in chunks:
        assert message.startswith("["), message
        label, _, text = message.partition("] ")
        texts[label.removeprefix("[")] += text
    return dict(texts)


async def test_one_entry_per_model_with_errors_in_place(mode: str, tmp_path: Path) -> None:
    """The structured result has one entry per model, in order: answers, and the failure's
    kind and message where its answer would be; the text shows each under its name."""
    async with connect(mode, *fanout_specs(tmp_path / "pids")) as client:
        result = await client.call_tool(
            "compare_llms",
            {"prompt": "hi", "models": ["fails", "shout"], "synthesize_with": "echo"},
        )
    assert not result.is_error
    data = result.structured_content
    assert [r["model"] for r in data["results"]] == ["fails", "shout"]
    assert data["results"][0]["error_kind"] == "process_failed"
    assert data["results"][1]["output"] == "HI\n" and data["results"][1]["duration_s"] > 0
    assert data["answered"] == ["shout"] and data["failed"] == ["fails"]
    assert data["synthesized_from"] == ["shout"] and data["synthesis"]["success"]
    assert "--- Answer 1 ---\nHI" in data["synthesis"]["output"]
    text = text_of(result)
    assert text.startswith("[fails] failed (")
    assert "process_failed: model 'fails'" in text and "[shout] (" in text
    assert "[synthesis by echo] (" in text


async def test_no_answer_at_all_is_an_error_result(mode: str, tmp_path: Path) -> None:
    """When every model failed the result is an error, still with every model's entry."""
    async with connect(mode, *fanout_specs(tmp_path / "pids")) as client:
        result = await client.call_tool("compare_llms", {"prompt": "x", "models": ["fails"]})
    assert result.is_error
    assert result.structured_content["failed"] == ["fails"]
    assert text_of(result).startswith("no_answers: none of the 1 model(s) answered")
    assert "\n\n[fails] failed" in text_of(result)


async def test_bad_model_lists_are_refused_before_anything_starts(
    mode: str, tmp_path: Path
) -> None:
    """Unknown, repeated, too many or no models: an error naming the kind and the fix, and
    no process started for the models that were fine."""
    pidfile = tmp_path / "pids"
    cases = [
        ({"models": ["shout", "nope"]}, "unknown_model: unknown model 'nope'"),
        ({"models": ["shout"], "synthesize_with": "nope"}, "unknown_model: unknown model 'nope'"),
        ({"models": ["shout", "shout"]}, "invalid_input: models: each model may be named once"),
        ({"models": [f"m{i}" for i in range(9)]}, "invalid_input: models: at most 8 models"),
        ({"models": []}, "invalid_input: models: expected at least one model"),
        ({"models": "shout"}, 'invalid_input: models: expected an array of strings, got "shout"'),
    ]
    async with connect(mode, *fanout_specs(pidfile)) as client:
        for arguments, start in cases:
            result = await client.call_tool("compare_llms", {"prompt": "x", **arguments})
            assert result.is_error and text_of(result).startswith(start), text_of(result)
        # A list sent as JSON text (as some clients do) is read as the list.
        as_text = await client.call_tool("compare_llms", {"prompt": "x", "models": '["echo"]'})
    assert not as_text.is_error and as_text.structured_content["answered"] == ["echo"]
    assert read_pids(pidfile) == []


async def test_cancelling_the_request_kills_every_tree(mode: str, tmp_path: Path) -> None:
    """The client cancels a compare of two hanging models: both trees (a grandchild too) are
    gone, and the server goes on serving."""
    pidfile = tmp_path / "pids"
    async with connect(mode, *fanout_specs(pidfile)) as client:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                client.call_tool, "compare_llms", {"prompt": "x", "models": ["tree", "hangs"]}
            )
            pids = await wait_for_pids(pidfile, 3, within_s=60)
            assert all(is_alive(p) for p in pids)  # running together
            nursery.cancel_scope.cancel()
        with trio.fail_after(10):
            while [p for p in pids if is_alive(p)]:  # noqa: ASYNC110 (other processes)
                await trio.sleep(0.02)
        after = await client.call_tool("compare_llms", {"prompt": "next", "models": ["echo"]})
    assert after.structured_content["results"][0]["output"] == "next"
