"""The job tools and large results through the real MCP SDK client, in memory.

start_llm / get_llm_result / cancel_llm / list_llm_calls and the resource
``llminst://calls/{call_id}/output``, over real processes (the echo CLI and the helper CLI);
execute_llm's and stream_llm's results cut to the result cap, read on in pieces. (Over HTTP,
with owners and clients that die: tests/serve/test_jobs_http.py.)
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from jsonschema import Draft202012Validator
from mcp import Client
from mcp.shared.exceptions import MCPError

from llminst._core.spec import Settings
from llminst._core.tokens import estimate_tokens
from llminst.supervisor.procfs import is_alive

from ..support.clocks import next_deadline_in, real_time_limit
from ..support.procs import read_pids, wait_for_pids
from ..support.tools import call_fields, connect, text_of

MIXED = "aé€😀日\u0301👩\u200d💻 z\n"  # one- to four-byte characters, combining, a ZWJ emoji


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """The structured content of a successful tool call, checked against its output schema."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    schema = {t.name: t.output_schema for t in (await client.list_tools()).tools}[tool]
    Draft202012Validator(schema).validate(result.structured_content)
    return dict(result.structured_content)


async def error_of(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, text_of(result)
    return text_of(result)


async def wait_done(client: Client, call_id: str) -> dict[str, Any]:
    """Poll as a 60-s client would, until the call is done."""
    with trio.fail_after(120):
        while True:
            piece = await call(client, "get_llm_result", call_id=call_id, wait_s=50)
            if piece["done"]:
                return piece


async def read_all(client: Client, call_id: str, *, offset: int = 0, **extra: Any) -> str:
    """A done call's output from `offset`, piece by piece with get_llm_result."""
    pieces = []
    while True:
        piece = await call(client, "get_llm_result", call_id=call_id, offset=offset, **extra)
        assert piece["offset"] == offset
        pieces.append(piece["output"])
        if piece["remaining_chars"] == 0:
            return "".join(pieces)
        assert piece["output"], "a piece is never empty while output remains"
        offset = piece["next_offset"]


async def test_start_poll_result(mode: str) -> None:
    """start_llm answers at once with the id; polling gives the state, then the whole result."""
    async with connect(mode) as client:
        started = await call(client, "start_llm", model="echo", prompt="[[echo:delay=0.05]] a b c")
        assert started == {"call_id": started["call_id"], "state": "queued"}
        done = await wait_done(client, started["call_id"])
    assert done["state"] == "succeeded" and done["output"] == "a b c"
    assert done["next_offset"] == done["output_chars"] == 5 and done["remaining_chars"] == 0
    result = done["result"]
    assert result["success"] is True and result["exit_code"] == 0
    assert result["call_id"] == started["call_id"] and "output" not in result


async def test_a_long_poll_returns_as_soon_as_new_output_arrives(
    fake_spec: Any, tmp_path: Path
) -> None:
    """A poll waiting for output beyond its offset answers when the CLI prints more, while the
    call still runs (not at its 50-s limit, not at the call's end)."""
    gate = tmp_path / "gate"
    async with connect("auto", fake_spec("gated", str(gate), timeout_category="extended")) as c:
        call_id = (await call(c, "start_llm", model="fake", prompt="hi"))["call_id"]
        first = await call(c, "get_llm_result", call_id=call_id, wait_s=50)
        assert first["output"] == "before\n" and first["state"] == "running"
        answers: list[dict[str, Any]] = []

        async def poll() -> None:
            offset = first["next_offset"]
            answers.append(
                await call(c, "get_llm_result", call_id=call_id, wait_s=50, offset=offset)
            )

        started = time.monotonic()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poll)
            await trio.testing.wait_all_tasks_blocked()
            gate.touch()
        elapsed = time.monotonic() - started
        (answer,) = answers
        assert answer["output"] == "after\n" and answer["state"] == "running"
        assert answer["offset"] == 7 and answer["next_offset"] == 13
        assert elapsed < 40, f"the poll waited {elapsed:.1f} s for output that came at once"
        assert (await call(c, "cancel_llm", call_id=call_id))["cancelled"] is True


async def test_a_long_poll_waits_at_most_50_seconds(
    fake_spec: Any, tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    """On a frozen virtual clock: wait_s=500 waits 50 s, not a moment less, then answers with
    the state (a 60-s client gets its answer in time). Memory sampling is off: its 0.1-s
    sample would be the next deadline."""
    spec = fake_spec("gated", str(tmp_path / "never"), timeout_category="extended")
    settings = Settings(memory_admission=False)
    async with real_time_limit(120), connect("auto", spec, settings=settings) as client:
        call_id = (await call(client, "start_llm", model="fake", prompt="hi"))["call_id"]
        first = await call(client, "get_llm_result", call_id=call_id, wait_s=50)
        assert first["output"] == "before\n"  # the news woke it: the clock never moved
        answers: list[dict[str, Any]] = []

        async def poll() -> None:
            offset = first["next_offset"]
            answers.append(
                await call(client, "get_llm_result", call_id=call_id, wait_s=500, offset=offset)
            )

        async with trio.open_nursery() as nursery:
            nursery.start_soon(poll)
            await trio.testing.wait_all_tasks_blocked()
            assert next_deadline_in() == pytest.approx(50)
            mock_clock.jump(49.99)
            await trio.testing.wait_all_tasks_blocked()
            assert not answers
            mock_clock.jump(0.02)
        (answer,) = answers
        assert answer["state"] == "running" and answer["output"] == "" and not answer["done"]
        await call(client, "cancel_llm", call_id=call_id)


async def test_bad_poll_arguments_are_invalid_input() -> None:
    async with connect("auto") as client:
        call_id = (await call(client, "start_llm", model="echo", prompt="abc"))["call_id"]
        await wait_done(client, call_id)
        cases = [
            ({"wait_s": -1}, "wait_s must be 0 or more"),
            ({"offset": -1}, "offset must be 0 or more"),
            ({"offset": 4}, "past the end of the call's output (3 characters)"),
            ({"max_chars": 0}, "max_chars must be 1 or more"),
            ({"wait_s": "5"}, "wait_s: expected a number"),
            ({"offset": 1.5}, "offset: expected an integer"),
        ]
        for arguments, expected in cases:
            text = await error_of(client, "get_llm_result", call_id=call_id, **arguments)
            assert text.startswith("invalid_input: ") and expected in text, text


async def test_cancel_kills_the_tree_and_keeps_the_partial_output(
    mode: str, fake_spec: Any, pidfile: Path
) -> None:
    spec = fake_spec("hang-tree", timeout_category="extended")
    async with connect(mode, spec) as client:
        call_id = (await call(client, "start_llm", model="fake", prompt="hi"))["call_id"]
        pids = await wait_for_pids(pidfile, 2, within_s=60)
        assert (await call(client, "get_llm_result", call_id=call_id, wait_s=50))["output"]
        cancelled = await call(client, "cancel_llm", call_id=call_id)
        assert cancelled == {"call_id": call_id, "state": "cancelled", "cancelled": True}
        assert not [pid for pid in pids if is_alive(pid)]  # gone before cancel_llm answered
        piece = await call(client, "get_llm_result", call_id=call_id)
        assert piece["state"] == "cancelled" and piece["output"] == "started\n"
        assert "cancelled" in piece["result"]["error"]
        again = await call(client, "cancel_llm", call_id=call_id)
        assert again == {"call_id": call_id, "state": "cancelled", "cancelled": False}
    assert read_pids(pidfile) == pids


async def test_list_shows_recent_calls_newest_first_filtered() -> None:
    async with connect("auto") as client:
        ids = []
        for prompt in ("one", "two", "three"):
            ids.append((await call(client, "start_llm", model="echo", prompt=prompt))["call_id"])
            await wait_done(client, ids[-1])
        await call(client, "execute_llm", model="echo", prompt="four")
        listed = (await call(client, "list_llm_calls"))["calls"]
        assert [c["prompt_preview"] for c in listed] == ["four", "three", "two", "one"]
        assert [c["call_id"] for c in listed[1:]] == ids[::-1]
        assert all(c["state"] == "succeeded" and c["origin"] == "mcp" for c in listed)
        assert listed[0]["output_chars"] == 4
        two = (await call(client, "list_llm_calls", limit=2))["calls"]
        assert [c["prompt_preview"] for c in two] == ["four", "three"]
        assert (await call(client, "list_llm_calls", state="failed"))["calls"] == []
        assert len((await call(client, "list_llm_calls", model="echo"))["calls"]) == 4
        assert (await call(client, "list_llm_calls", model="claude"))["calls"] == []
        text = await error_of(client, "list_llm_calls", state="done")
        assert text.startswith("invalid_input: state: unknown state 'done'; valid states: queued")
        assert "limit must be from 1 to 200" in await error_of(client, "list_llm_calls", limit=0)


async def test_an_unknown_call_is_unknown_call_everywhere(mode: str) -> None:
    async with connect(mode) as client:
        for tool in ("get_llm_result", "cancel_llm"):
            text = await error_of(client, tool, call_id="no-such-call")
            assert text.startswith("unknown_call: no call 'no-such-call'"), text
            assert "list_llm_calls" in text
        with pytest.raises(MCPError, match="unknown_call: no call 'nope'"):
            await client.read_resource("llminst://calls/nope/output")


async def test_the_output_resource_is_read_through_the_client(mode: str) -> None:
    async with connect(mode) as client:
        templates = (await client.list_resource_templates()).resource_templates
        assert [(t.uri_template, t.mime_type) for t in templates] == [
            ("llminst://calls/{call_id}/output", "text/plain")
        ]
        call_id = (await call(client, "start_llm", model="echo", prompt=MIXED * 3))["call_id"]
        await wait_done(client, call_id)
        read = await client.read_resource(f"llminst://calls/{call_id}/output")
        (content,) = read.contents
        assert content.text == MIXED * 3 and content.mime_type == "text/plain"


async def test_paging_multibyte_text_at_every_boundary(mode: str) -> None:
    """Pieces of every size, read with get_llm_result, concatenate to exactly the output."""
    text = MIXED * 2
    async with connect(mode) as client:
        call_id = (await call(client, "start_llm", model="echo", prompt=text))["call_id"]
        assert (await wait_done(client, call_id))["output"] == text
        for max_chars in range(1, len(text) + 2):
            assert await read_all(client, call_id, max_chars=max_chars) == text, max_chars
        for offset in range(len(text) + 1):
            assert await read_all(client, call_id, offset=offset, max_chars=5) == text[offset:]


# -- large results ----------------------------------------------------------------------------

BIG = "".join(
    f"{i:05d} def handler(event): return {{'id': {i}, 'ok': True}}  # ünïcode 😀\n"
    for i in range(6000)
)
FAST = "[[echo:delay=0]] "  # echo streams word by word, 20 ms apart unless told otherwise


@pytest.mark.parametrize("tool", ["execute_llm", "stream_llm"])
async def test_a_result_over_the_cap_stays_under_claude_codes_limit(tool: str) -> None:
    """A 400,000-character answer: the result text is under 25,000 tokens by the project's
    estimate, says how much more there is and how to get it, and the rest read from the
    marker's offset (or the resource) completes the output exactly."""
    async with connect("auto") as client:
        result = await client.call_tool(tool, {"model": "echo", "prompt": FAST + BIG})
        assert not result.is_error
        text = text_of(result)
        data = result.structured_content
        assert estimate_tokens(text, "claude").tokens < 25_000
        assert data["result_truncated"] is True and data["call_id"]
        shown = data["output"]
        assert text.startswith(shown) and BIG.startswith(shown) and 0 < len(shown) < len(BIG)
        more = len(BIG) - len(shown)
        assert f"{more:,} more characters" in text
        assert f'get_llm_result(call_id="{data["call_id"]}", offset={len(shown)})' in text
        assert f"llminst://calls/{data['call_id']}/output" in text
        rest = await read_all(client, data["call_id"], offset=len(shown))
        assert shown + rest == BIG
        whole = await client.read_resource(f"llminst://calls/{data['call_id']}/output")
        assert whole.contents[0].text == BIG
        # every piece get_llm_result gives is under the limit too
        piece = await client.call_tool("get_llm_result", {"call_id": data["call_id"]})
        assert estimate_tokens(text_of(piece), "claude").tokens < 25_000


async def test_a_result_under_the_cap_is_whole() -> None:
    async with connect("auto") as client:
        result = await client.call_tool(
            "execute_llm", {"model": "echo", "prompt": FAST + BIG[:50_000]}
        )
    assert text_of(result) == BIG[:50_000]
    assert call_fields(result.structured_content)["result_truncated"] is False


async def test_max_mcp_output_tokens_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_MCP_OUTPUT_TOKENS", "5000")
    async with connect("auto") as client:
        result = await client.call_tool("execute_llm", {"model": "echo", "prompt": FAST + BIG})
    assert estimate_tokens(text_of(result), "claude").tokens < 5000
    assert result.structured_content["result_truncated"] is True


async def test_the_cap_is_a_server_option() -> None:
    async with connect("auto", max_result_chars=100) as client:
        result = await client.call_tool(
            "execute_llm", {"model": "echo", "prompt": FAST + BIG[:1000]}
        )
        assert result.structured_content["output"] == BIG[:100]
        piece = await call(client, "get_llm_result", call_id=result.structured_content["call_id"])
        assert piece["output"] == BIG[:100] and piece["remaining_chars"] == 900
        piece = await call(client, "get_llm_result", call_id=piece["call_id"], max_chars=10_000)
        assert len(piece["output"]) == 100  # never more than the server's cap


async def test_json_mode_over_the_cap_leaves_parsed_json_to_the_store() -> None:
    """In JSON mode a JSON value over the cap is not cut (that would not be JSON): the result
    carries the first piece of the raw output, says so, and the JSON is read whole from the
    stored output."""
    question = "x" * 500
    async with connect("auto", max_result_chars=100) as client:
        result = await client.call_tool(
            "execute_llm", {"model": "echo", "prompt": question, "json_mode": True}
        )
        data = call_fields(result.structured_content)
        assert not result.is_error and data["result_truncated"] is True
        assert data["parsed_json"] is None and data["success"] is True
        assert "JSON mode: the JSON value is" in text_of(result)
        assert len(data["output"]) == 100
        stored = await client.read_resource(f"llminst://calls/{data['call_id']}/output")
    assert json.loads(stored.contents[0].text)["question"].startswith(question)
