"""A call's working directory and system prompt through the library, against real processes:
the CLI runs where the call says (resolved, checked, under the allowed roots), and receives the
system prompt by its own flag or prepended."""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

from llminst import (
    BUILTIN_MODELS,
    CallResult,
    InvalidInputError,
    LLMError,
    ModelSpec,
    OutputFormat,
    open_supervisor,
)

from ..support.models import models_with
from ..support.paths import FAKECLI
from ..support.procs import read_pids

PWD = ModelSpec(name="pwd", command=(sys.executable, FAKECLI, "pwd"))


def _dumping(name: str) -> ModelSpec:
    """The built-in `name`, running the recording fake CLI (it prints its argv and stdin)."""
    return attrs.evolve(
        BUILTIN_MODELS[name],
        command=(sys.executable, FAKECLI, "dump", *BUILTIN_MODELS[name].command[1:]),
        output_format=OutputFormat.TEXT,
        version_command=None,
    )


async def _run(
    *specs: ModelSpec, model: str, roots: list[str] | None = None, **kw: object
) -> CallResult:
    """One call; its error raised as it is (not wrapped by the supervisor's nursery)."""
    async with open_supervisor(models=models_with(*specs), allowed_roots=roots) as supervisor:
        try:
            return await supervisor.run(model, "hello", **kw)  # type: ignore[arg-type]
        except LLMError as exc:
            error = exc
    raise error


async def test_the_cli_runs_in_the_calls_directory(tmp_path: Path) -> None:
    """The CLI's os.getcwd() is the call's directory, not the caller's."""
    work = tmp_path / "work"
    work.mkdir()
    result = await _run(PWD, model="pwd", cwd=str(work))
    assert result.output.strip() == str(work.resolve())
    assert os.getcwd() != str(work.resolve())


async def test_a_path_object_and_a_relative_path_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    monkeypatch.chdir(tmp_path)
    assert (await _run(PWD, model="pwd", cwd=Path("a"))).output.strip() == str(tmp_path / "a")
    assert (await _run(PWD, model="pwd", cwd="a/../a")).output.strip() == str(tmp_path / "a")


async def test_the_calls_directory_replaces_the_models(tmp_path: Path) -> None:
    (tmp_path / "spec").mkdir()
    (tmp_path / "call").mkdir()
    spec = attrs.evolve(PWD, cwd=str(tmp_path / "spec"))
    assert (await _run(spec, model="pwd")).output.strip() == str(tmp_path / "spec")
    result = await _run(spec, model="pwd", cwd=str(tmp_path / "call"))
    assert result.output.strip() == str(tmp_path / "call")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: str(p / "missing"), r"cwd: no such directory: '.*missing'"),
        (lambda p: str(p / "file.txt"), r"cwd: '.*file\.txt' is not a directory"),
        (lambda p: "", r"cwd is empty"),
        (lambda p: 7, r"cwd must be a string \(a directory\), got int"),
    ],
)
async def test_a_directory_that_is_not_one_is_invalid_input(
    tmp_path: Path, make: Callable[[Path], object], message: str, pidfile: Path
) -> None:
    """Refused before anything starts, naming the path: nothing ran."""
    (tmp_path / "file.txt").write_text("x")
    spec = ModelSpec(
        name="rec",
        command=(sys.executable, FAKECLI, "grandchildren", "1"),
        env={"FAKECLI_PIDFILE": str(pidfile)},
    )
    with pytest.raises(InvalidInputError, match=message) as refused:
        await _run(spec, model="rec", cwd=make(tmp_path))
    assert refused.value.kind == "invalid_input"
    assert read_pids(pidfile) == []  # nothing started


async def test_only_directories_under_the_roots_are_allowed(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    inside = await _run(PWD, model="pwd", roots=[str(root)], cwd=str(root / "sub"))
    assert inside.output.strip() == str(root / "sub")
    with pytest.raises(InvalidInputError, match=r"is not under this server's allowed roots"):
        await _run(PWD, model="pwd", roots=[str(root)], cwd=str(outside))
    with pytest.raises(InvalidInputError, match=r"is not under"):
        await _run(PWD, model="pwd", roots=[str(root)], cwd=str(root / ".." / "outside"))
    with pytest.raises(InvalidInputError, match=r"allowed roots, and it has none"):
        await _run(PWD, model="pwd", roots=[], cwd=str(root))


async def test_a_symlink_out_of_a_root_is_refused(tmp_path: Path) -> None:
    """A link inside the root that leads outside it is outside; a link to the root is inside."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    with pytest.raises(InvalidInputError, match=r"escape' \(which leads to '.*outside'\) is not"):
        await _run(PWD, model="pwd", roots=[str(root)], cwd=str(root / "escape"))
    (tmp_path / "alias").symlink_to(root)
    via_alias = await _run(PWD, model="pwd", roots=[str(tmp_path / "alias")], cwd=str(root))
    assert via_alias.output.strip() == str(root)


async def test_a_refused_directory_does_not_say_whether_it_exists(tmp_path: Path) -> None:
    """Outside the roots, a missing directory gets the same refusal as an existing one."""
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(InvalidInputError, match=r"is not under") as refused:
        await _run(PWD, model="pwd", roots=[str(root)], cwd=str(tmp_path / "missing"))
    assert "no such directory" not in str(refused.value)


def _received(output: str) -> tuple[list[str], str]:
    dump = json.loads(output)
    return dump["argv"], base64.b64decode(dump["stdin"]).decode()


async def test_claude_receives_append_system_prompt() -> None:
    """The claude spec's argv reaches the process with --append-system-prompt and the text;
    the prompt arrives on stdin as a stream-json user message."""
    spec = _dumping("claude")
    result = await _run(spec, model="claude", system_prompt="Answer in French.")
    argv, stdin = _received(result.output)
    at = argv.index("--append-system-prompt")
    assert argv[at + 1] == "Answer in French."
    assert "hello" not in argv
    assert json.loads(stdin.splitlines()[1])["message"]["content"] == "hello"


async def test_a_cli_without_a_flag_receives_it_before_the_prompt() -> None:
    """gemini reads stdin: the system prompt arrives there, between tags, before the prompt."""
    spec = _dumping("gemini")
    result = await _run(spec, model="gemini", system_prompt="Answer in French.")
    argv, stdin = _received(result.output)
    assert stdin == "<system>\nAnswer in French.\n</system>\n\nhello"
    assert not any("French" in part for part in argv)


async def test_echo_answers_with_the_prepended_system_prompt(tmp_path: Path) -> None:
    """The echo model answers with what it received: the system prompt first."""
    async with open_supervisor() as supervisor:
        result = await supervisor.run("echo", "hello", system_prompt="be brief", cwd=tmp_path)
    assert result.output == "<system>\nbe brief\n</system>\n\nhello"
