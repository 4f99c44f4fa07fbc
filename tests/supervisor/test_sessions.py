"""Sessions through the library, with real processes: the echo model (which answers with the
prompt it got, so the answer shows whether the transcript reached the CLI) and a small CLI that
reports a session id and answers with its own argv (so the answer shows the resume flag)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import attrs
import pytest
import trio
from structlog.testing import capture_logs

from llminst import ModelSpec, open_supervisor
from llminst._core.errors import InvalidInputError, ProcessFailedError
from llminst._core.spec import OutputFormat
from llminst.store import MemoryStore, open_store

from ..support.models import models_with

# Answers like claude's stream-json: one result line with a session id ("sid-" and the number
# of earlier --resume flags, so a resumed call keeps its id) and its argv as the answer.
_RESUMING = (
    "import json, sys; argv = sys.argv[1:]; "
    "print(json.dumps({'type': 'result', 'subtype': 'success', 'is_error': False, "
    "'session_id': argv[argv.index('--resume') + 1] if '--resume' in argv else 'sid-1', "
    "'result': json.dumps(argv)}))"
)
RESUMING = ModelSpec(
    name="resuming",
    command=(sys.executable, "-c", _RESUMING),
    prompt_separator="--",
    output_format=OutputFormat.CLAUDE_STREAM_JSON,
    resume_args=("--resume", "{session_id}"),
)
FAILING = ModelSpec(name="failing", command=(sys.executable, "-c", "import sys; sys.exit(3)"))
MODELS = models_with(RESUMING, FAILING)


async def test_echo_gets_the_transcript_of_the_earlier_turns() -> None:
    async with open_supervisor(models=MODELS) as supervisor:
        first = await supervisor.run("echo", "my name is Ada", session="chat")
        second = await supervisor.run("echo", "what is my name?", session="chat")
        stored = await supervisor.store.get_session("chat")

    assert first.output == "my name is Ada" and first.session == second.session == "chat"
    # echo answers with the prompt the CLI got: the transcript, then the new message
    assert "<user>\nmy name is Ada\n</user>\n<assistant>\nmy name is Ada\n</assistant>" in (
        second.output
    )
    assert second.output.endswith("what is my name?")
    assert stored is not None and len(stored.turns) == 4 and stored.cli_session_id is None


async def test_a_cli_with_resume_gets_its_session_id_not_the_transcript() -> None:
    async with open_supervisor(models=MODELS) as supervisor:
        first = await supervisor.run("resuming", "remember 7", session="r")
        second = await supervisor.run("resuming", "what number?", session="r")
        stored = await supervisor.store.get_session("r")

    assert json.loads(first.output) == ["--", "remember 7"]
    assert json.loads(second.output) == ["--resume", "sid-1", "--", "what number?"]
    assert stored is not None and (stored.cli_session_id, stored.cli_model) == ("sid-1", "resuming")


async def test_a_session_moved_to_another_model_replays_and_can_move_back() -> None:
    async with open_supervisor(models=MODELS) as supervisor:
        await supervisor.run("resuming", "remember 7", session="m")
        moved = await supervisor.run("echo", "and now?", session="m")
        back = await supervisor.run("resuming", "still there?", session="m")

    assert moved.output.startswith("This message continues an earlier conversation")
    assert "<user>\nremember 7\n</user>" in moved.output
    assert '["--", "remember 7"]' in moved.output  # the resuming model's answer
    # echo's turn is not in the resuming CLI's own session: it gets the whole transcript
    argv = json.loads(back.output)
    assert "--resume" not in argv and "<user>\nand now?\n</user>" in argv[-1]


async def test_a_failed_call_adds_no_turns() -> None:
    async with open_supervisor(models=MODELS) as supervisor:
        await supervisor.run("echo", "one", session="f")
        with pytest.raises(ProcessFailedError) as info:
            await supervisor.run("failing", "two", session="f")
        after = await supervisor.run("echo", "three", session="f")
        stored = await supervisor.store.get_session("f")

    assert info.value.result is not None and info.value.result.session == "f"
    assert "two" not in after.output
    assert stored is not None and [t.text for t in stored.turns if t.role == "user"] == [
        "one",
        "three",
    ]


async def test_calls_of_one_session_run_one_at_a_time() -> None:
    """Two concurrent turns of one session: the second waits for the first and sees it (run
    concurrently, both would find the session empty and fork the conversation)."""
    outputs: dict[str, str] = {}

    async def ask(supervisor, prompt: str) -> None:  # type: ignore[no-untyped-def]
        async with supervisor.open_stream("echo", prompt, session="busy") as stream:
            outputs[prompt] = (await stream.wait()).output

    async with open_supervisor(models=MODELS) as supervisor, trio.open_nursery() as nursery:
        nursery.start_soon(ask, supervisor, "alpha")
        nursery.start_soon(ask, supervisor, "beta")

    first, second = sorted(outputs, key=lambda prompt: len(outputs[prompt]))
    assert outputs[first] == first
    assert f"<user>\n{first}\n</user>" in outputs[second] and outputs[second].endswith(second)


async def test_a_new_supervisor_over_the_same_store_continues_the_session() -> None:
    store = MemoryStore()
    async with open_supervisor(models=MODELS, store=store) as supervisor:
        await supervisor.run("resuming", "remember 7", session="kept")
    async with open_supervisor(models=MODELS, store=store) as supervisor:
        again = await supervisor.run("resuming", "what number?", session="kept")
        listed = await supervisor.store.list_sessions()

    assert json.loads(again.output)[:2] == ["--resume", "sid-1"]
    assert [s.name for s in listed] == ["kept"]


# As `_RESUMING`, but a new session's id is its process's ("sid-PID"): a turn that could not
# resume shows a new id, one that resumed keeps the id it was given.
_RESUMING_NEW_IDS = _RESUMING.replace("'sid-1'", "'sid-%d' % __import__('os').getpid()")
RESUMING_NEW_IDS = attrs.evolve(
    RESUMING, name="resuming-new-ids", command=(sys.executable, "-c", _RESUMING_NEW_IDS)
)


async def test_two_replicas_over_one_store_resume_only_on_the_host_with_the_cli_session(
    tmp_path: Path,
) -> None:
    """Two supervisors on different hosts (each its own SQLite connection to one file, as
    replicas share a store): the CLI's session lives on the disk of the host that made it,
    so the other host replays the transcript, and its new CLI session moves there."""
    models = models_with(RESUMING_NEW_IDS)
    name = "resuming-new-ids"
    path = tmp_path / "shared.sqlite3"
    async with (
        open_store(path) as store_a,
        open_store(path) as store_b,
        open_supervisor(models=models, store=store_a, host="replica-a") as on_a,
        open_supervisor(models=models, store=store_b, host="replica-b") as on_b,
    ):
        await on_a.run(name, "remember 7", session="s")
        made_on_a = await store_b.get_session("s")
        with capture_logs() as logs:
            on_b_first = json.loads((await on_b.run(name, "what number?", session="s")).output)
        moved_to_b = await store_a.get_session("s")
        on_b_again = json.loads((await on_b.run(name, "and now?", session="s")).output)
        back_on_a = json.loads((await on_a.run(name, "still?", session="s")).output)
        last = await store_b.get_session("s")

    assert made_on_a is not None and made_on_a.cli_host == "replica-a"
    # replica-b's disk has no such CLI session: the transcript, not the resume flag
    assert "--resume" not in on_b_first and "<user>\nremember 7\n</user>" in on_b_first[-1]
    replayed = [e for e in logs if e["event"] == "llminst.session.replayed_elsewhere"]
    assert [(e["session"], e["cli_host"], e["host"]) for e in replayed] == [
        ("s", "replica-a", "replica-b")
    ]
    assert moved_to_b is not None and moved_to_b.cli_host == "replica-b"
    assert moved_to_b.cli_session_id not in (None, made_on_a.cli_session_id)
    # ... and from then on replica-b resumes its own, while replica-a replays
    assert on_b_again == ["--resume", moved_to_b.cli_session_id, "--", "and now?"]
    assert "--resume" not in back_on_a and "<user>\nand now?\n</user>" in back_on_a[-1]
    assert last is not None and last.cli_host == "replica-a" and len(last.turns) == 8


@pytest.mark.parametrize("name", ["", "has space", "x" * 201])
async def test_an_invalid_session_name_is_refused_before_anything_starts(name: str) -> None:
    async with open_supervisor(models=MODELS) as supervisor:
        with pytest.raises(InvalidInputError, match="session name"):
            await supervisor.run("echo", "hi", session=name)
        with pytest.raises(InvalidInputError, match="session name"):
            async with supervisor.open_stream("echo", "hi", session=name):
                pass
        assert supervisor.running() == {}
        assert await supervisor.store.list_sessions() == []


async def test_a_fallback_continues_the_session_for_its_own_model() -> None:
    """The resuming CLI answers first; on the next turn it is missing, so echo falls back: echo
    gets the transcript (never claude-style resume flags), and the turn is kept as echo's."""
    missing = ModelSpec(
        name="resuming",
        command=("/nonexistent/resuming-cli",),
        resume_args=("--resume", "{session_id}"),
        fallbacks=("echo",),
    )
    store = MemoryStore()
    async with open_supervisor(models=MODELS, store=store) as supervisor:
        await supervisor.run("resuming", "remember 7", session="fb")
    async with open_supervisor(models=models_with(missing), store=store) as supervisor:
        second = await supervisor.run("resuming", "what number?", session="fb")
    stored = await store.get_session("fb")

    assert second.model == "echo" and [p["model"] for p in second.fallback_chain] == ["resuming"]
    assert "--resume" not in second.output and "<user>\nremember 7\n</user>" in second.output
    assert stored is not None and len(stored.turns) == 4
    assert stored.turns[-1].model == "echo" and stored.model == "echo"
