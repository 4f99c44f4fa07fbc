"""Sessions over MCP (the SDK's in-memory client): `session` on execute_llm and stream_llm,
the session named in each result, list_llm_sessions, and a bad name as invalid_input."""

from __future__ import annotations

from ..support.progress import ProgressRecorder
from ..support.tools import call_fields, connect, text_of


async def test_execute_and_stream_continue_one_session_and_list_it(mode: str) -> None:
    recorder = ProgressRecorder()
    async with connect(mode) as client:
        first = await client.call_tool(
            "execute_llm", {"model": "echo", "prompt": "my name is Ada", "session": "chat-1"}
        )
        second = await client.call_tool(
            "stream_llm",
            {"model": "echo", "prompt": "what is my name?", "session": "chat-1"},
            progress_callback=recorder,
        )
        other = await client.call_tool("execute_llm", {"model": "echo", "prompt": "alone"})
        listed = await client.call_tool("list_llm_sessions", {})
        limited = await client.call_tool("list_llm_sessions", {"limit": 1})

    assert not first.is_error and first.structured_content["session"] == "chat-1"
    assert second.structured_content["session"] == "chat-1"
    assert "<user>\nmy name is Ada\n</user>" in text_of(second)  # echo got the transcript
    assert call_fields(other.structured_content)["session"] is None and text_of(other) == "alone"
    (session,) = listed.structured_content["sessions"]
    assert session["name"] == "chat-1" and session["turns"] == 4 and session["model"] == "echo"
    assert session["cli_session_id"] is None and session["updated_at"] >= session["created_at"]
    assert len(limited.structured_content["sessions"]) == 1


async def test_a_bad_session_name_is_invalid_input_and_the_server_keeps_serving(
    mode: str,
) -> None:
    async with connect(mode) as client:
        bad = await client.call_tool(
            "execute_llm", {"model": "echo", "prompt": "x", "session": "no spaces please"}
        )
        wrong_type = await client.call_tool(
            "stream_llm", {"model": "echo", "prompt": "x", "session": 7}
        )
        zero = await client.call_tool("list_llm_sessions", {"limit": 0})
        fine = await client.call_tool("execute_llm", {"model": "echo", "prompt": "ok"})

    assert bad.is_error and text_of(bad).startswith("invalid_input: session name 'no spaces")
    assert "letters, digits" in text_of(bad)
    assert bad.structured_content["error_kind"] == "invalid_input"
    assert text_of(wrong_type).startswith("invalid_input: session: expected a string or null")
    assert zero.is_error and text_of(zero).startswith("invalid_input: limit: ")
    assert text_of(fine) == "ok"
