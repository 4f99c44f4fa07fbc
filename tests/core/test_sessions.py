"""Sessions without processes: names, how a call continues a session, the argv it gets, and the
session it leaves (`_core.sessions`, `_core.command`, the spec fields)."""

from __future__ import annotations

import attrs
import pytest

from llminst._core.builtins import BUILTIN_MODELS
from llminst._core.command import build_invocation, invocation_for
from llminst._core.errors import InvalidInputError
from llminst._core.records import SessionRecord, Turn
from llminst._core.request import build_request
from llminst._core.sessions import (
    Replay,
    Resume,
    check_session_name,
    next_session,
    plan_continuation,
    transcript_prompt,
)
from llminst._core.spec import FieldValueError, ModelSpec

CLAUDE = BUILTIN_MODELS["claude"]
CODEX = BUILTIN_MODELS["codex"]
GPT4 = BUILTIN_MODELS["gpt-4"]
ECHO = BUILTIN_MODELS["echo"]
TURNS = (
    Turn(role="user", text="my name is Ada", model="claude", call_id="c1"),
    Turn(role="assistant", text="Hello Ada", model="claude", call_id="c1"),
)


def _session(**changes: object) -> SessionRecord:
    record = SessionRecord(
        name="s", model="claude", cli_session_id="sid-1", cli_model="claude",
        cli_host="host-a", turns=TURNS, created_at=1.0, updated_at=2.0,
    )  # fmt: skip
    return record.evolve(**changes)


@pytest.mark.parametrize("name", ["a", "review-42", "x" * 200, "team.b:run_1"])
def test_valid_session_names(name: str) -> None:
    assert check_session_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 201, "has space", "a/b", "é", "semi;colon"])
def test_invalid_session_names_say_what_is_allowed(name: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        check_session_name(name)
    assert str(info.value).startswith("session name ")
    assert "1 to 200 characters of letters, digits" in str(info.value)


def test_a_session_name_must_be_a_string() -> None:
    with pytest.raises(InvalidInputError, match=r"session must be a string.*got int"):
        check_session_name(5)


def test_nothing_to_continue_without_turns() -> None:
    assert plan_continuation(None, CLAUDE, host="host-a") is None
    assert plan_continuation(_session(turns=()), CLAUDE, host="host-a") is None


def test_the_same_cli_resumes_its_own_session() -> None:
    assert plan_continuation(_session(), CLAUDE, host="host-a") == Resume("sid-1")


def test_another_model_or_no_cli_session_gets_the_transcript() -> None:
    gemini = BUILTIN_MODELS["gemini"]
    assert plan_continuation(_session(), gemini, host="host-a") == Replay(TURNS)
    assert plan_continuation(_session(cli_session_id=None), CLAUDE, host="host-a") == Replay(TURNS)
    assert plan_continuation(_session(), GPT4, host="host-a") == Replay(TURNS)  # no resume


def test_another_host_gets_the_transcript_its_disk_has_no_cli_session() -> None:
    # claude keeps the session in ~/.claude/projects on host-a: host-b cannot resume it
    assert plan_continuation(_session(), CLAUDE, host="host-b") == Replay(TURNS)
    codex = _session(cli_model="codex")  # codex's ~/.codex/sessions: the same
    assert plan_continuation(codex, CODEX, host="host-a") == Resume("sid-1")
    assert plan_continuation(codex, CODEX, host="host-b") == Replay(TURNS)


def test_a_session_recorded_without_a_host_resumes_anywhere() -> None:
    # sessions stored before llminst kept the host: as before, the resume flag
    assert plan_continuation(_session(cli_host=None), CLAUDE, host="host-b") == Resume("sid-1")


def test_a_replayed_turn_moves_the_resume_state_to_its_host() -> None:
    moved = next_session(
        _session(), name="s", model="claude", spec=CLAUDE, prompt="again", answer="yes",
        cli_session_id="sid-2", call_id="c2", now=3.0, host="host-b",
    )  # fmt: skip
    assert (moved.cli_session_id, moved.cli_host) == ("sid-2", "host-b")
    assert plan_continuation(moved, CLAUDE, host="host-b") == Resume("sid-2")
    assert plan_continuation(moved, CLAUDE, host="host-a") == Replay(moved.turns)


def test_next_session_adds_the_turns_and_keeps_a_resumable_id() -> None:
    first = next_session(
        None, name="s", model="claude:sonnet", spec=CLAUDE, prompt="hi", answer="hello",
        cli_session_id="sid-9", call_id="c1", now=10.0, host="host-a",
    )  # fmt: skip
    assert [(t.role, t.text, t.model) for t in first.turns] == [
        ("user", "hi", "claude:sonnet"),
        ("assistant", "hello", "claude:sonnet"),
    ]
    assert (first.cli_session_id, first.cli_model, first.cli_host) == ("sid-9", "claude", "host-a")
    assert first.created_at == first.updated_at == 10.0

    moved = next_session(
        first, name="s", model="echo", spec=ECHO, prompt="again", answer="again",
        cli_session_id=None, call_id="c2", now=11.0, host="host-a",
    )  # fmt: skip
    assert len(moved.turns) == 4 and moved.model == "echo"
    assert (moved.cli_session_id, moved.cli_model, moved.cli_host) == (None, None, None)
    assert (moved.created_at, moved.updated_at) == (10.0, 11.0)


def test_a_cli_without_resume_keeps_no_session_id() -> None:
    record = next_session(
        None, name="s", model="gpt-4", spec=GPT4, prompt="p", answer="a",
        cli_session_id="chatcmpl-1", call_id=None, now=1.0, host="host-a",
    )  # fmt: skip
    assert record.cli_session_id is None and record.cli_model is None and record.cli_host is None


def test_claude_resumes_with_its_flag_before_the_prompt() -> None:
    argv = build_invocation(
        CLAUDE, "next?", base_env={}, session="s", continuation=Resume("sid-1")
    ).argv
    assert argv == (*CLAUDE.command, "--resume", "sid-1")  # the prompt: on stdin


def test_codex_resumes_with_its_subcommand_and_saves_session_threads() -> None:
    resumed = build_invocation(CODEX, "next?", base_env={}, session="s", continuation=Resume("t1"))
    assert resumed.argv == ("codex", "exec", "resume", "t1", "--json", "--skip-git-repo-check", "-")
    opened = build_invocation(CODEX, "first", base_env={}, session="s")
    assert opened.argv == ("codex", "exec", "--json", "--skip-git-repo-check", "-")
    alone = build_invocation(CODEX, "first", base_env={})
    assert alone.argv[-1] == "--ephemeral"


def test_the_openai_cli_gets_earlier_turns_as_messages() -> None:
    argv = build_invocation(GPT4, "x", base_env={}, session="s", continuation=Replay(TURNS)).argv
    assert argv == (
        "openai", "api", "chat.completions.create",
        "-g", "user", "my name is Ada", "-g", "assistant", "Hello Ada",
        "-g", "user", "x", "-m", "gpt-4",
    )  # fmt: skip


def test_a_cli_without_history_args_gets_the_transcript_in_the_prompt() -> None:
    request = build_request(BUILTIN_MODELS, model="echo", prompt="what is my name?")
    replayed = attrs.evolve(request, session="s", continuation=Replay(TURNS))
    invocation = invocation_for(replayed, native_schema=False, base_env={})
    prompt = invocation.argv[-1]
    assert prompt == transcript_prompt(TURNS, "what is my name?")
    assert prompt.index("my name is Ada") < prompt.index("Hello Ada") < prompt.index("what is")


def test_json_mode_instructions_follow_the_replayed_transcript() -> None:
    request = build_request(BUILTIN_MODELS, model="echo", prompt="name?", json_mode=True)
    replayed = attrs.evolve(request, session="s", continuation=Replay(TURNS))
    prompt = replayed.cli_prompt(native_schema=False)
    assert prompt.startswith("This message continues") and prompt.endswith(
        request.instructed_prompt
    )


def test_a_message_too_large_for_one_argument_is_refused_clearly() -> None:
    huge = (Turn(role="user", text="x" * 200_000, model="gpt-4"),)
    with pytest.raises(InvalidInputError, match="too large for one command-line argument"):
        build_invocation(GPT4, "hi", base_env={}, session="s", continuation=Replay(huge))


def test_spec_fields_refuse_what_cannot_work() -> None:
    with pytest.raises(FieldValueError, match=r"\{session_id\}"):
        ModelSpec(name="m", command=("m",), resume_args=("--resume",))
    with pytest.raises(FieldValueError, match=r"\{resume\} placeholder"):
        ModelSpec(name="m", command=("m", "{resume}"))
    with pytest.raises(FieldValueError, match=r"exactly \{text\}"):
        ModelSpec(name="m", command=("m",), history_args=("-g", "{role}:{text}"))
    with pytest.raises(FieldValueError, match=r"\{history\} placeholder"):
        ModelSpec(name="m", command=("m", "{history}"))
