"""A call's system prompt and directory, from request to argv, without a process: the CLI's own
flag where the spec has one (claude, llm, gpt-4), else prepended to the prompt between
``<system>`` tags (gemini, codex, llama, echo, a custom CLI)."""

from __future__ import annotations

import pytest

from llminst._core.builtins import BUILTIN_MODELS
from llminst._core.command import build_invocation, command_line, invocation_for
from llminst._core.errors import InvalidInputError
from llminst._core.request import build_request, with_system_prompt
from llminst._core.spec import FieldValueError, ModelSpec

BASE_ENV = {"PATH": "/usr/bin:/bin"}
SYSTEM = "Answer in French."
WRAPPED = "<system>\nAnswer in French.\n</system>\n\nhello"


def _argv(model: str, prompt: str = "hello", **options: object) -> tuple[str, ...]:
    request = build_request(BUILTIN_MODELS, model=model, prompt=prompt, **options)  # type: ignore[arg-type]
    return invocation_for(request, native_schema=False, base_env=BASE_ENV).argv


def _stdin(model: str, prompt: str = "hello", **options: object) -> bytes | None:
    request = build_request(BUILTIN_MODELS, model=model, prompt=prompt, **options)  # type: ignore[arg-type]
    return invocation_for(request, native_schema=False, base_env=BASE_ENV).stdin


def test_claude_gets_append_system_prompt_before_the_prompt() -> None:
    """claude: --append-system-prompt TEXT among its flags, the prompt untouched on stdin."""
    argv = _argv("claude", system_prompt=SYSTEM)
    assert argv == (*BUILTIN_MODELS["claude"].command, "--append-system-prompt", SYSTEM)


def test_llm_gets_its_system_flag() -> None:
    assert _argv("llm", system_prompt=SYSTEM) == (
        "llm",
        "prompt",
        "--no-log",
        "--system",
        SYSTEM,
        "--",
        "hello",
    )


def test_gpt4_sends_the_system_message_before_the_users() -> None:
    """The openai CLI sends `-g ROLE CONTENT` messages in argv order: system first."""
    assert _argv("gpt-4", system_prompt=SYSTEM) == (
        "openai",
        "api",
        "chat.completions.create",
        "-g",
        "system",
        SYSTEM,
        "-g",
        "user",
        "hello",
        "-m",
        "gpt-4",
    )


@pytest.mark.parametrize("model", ["claude", "gpt-4", "llm", "echo"])
def test_without_a_system_prompt_nothing_changes(model: str) -> None:
    """No system prompt (None or ""): the argv of a plain call, and no marker left in it."""
    plain = _argv(model)
    assert _argv(model, system_prompt="") == plain
    assert "{system_prompt_args}" not in plain and "--append-system-prompt" not in plain
    assert "{system_prompt_args}" not in command_line(BUILTIN_MODELS[model])


@pytest.mark.parametrize("model", ["gemini", "codex"])
def test_stdin_clis_without_a_flag_get_it_prepended_on_stdin(model: str) -> None:
    assert _stdin(model, system_prompt=SYSTEM) == WRAPPED.encode()
    assert _argv(model, system_prompt=SYSTEM) == _argv(model)


@pytest.mark.parametrize("model", ["echo", "llama"])
def test_argv_clis_without_a_flag_get_it_prepended_in_argv(model: str) -> None:
    assert _argv(model, system_prompt=SYSTEM)[-1] == WRAPPED


def test_prepending_keeps_json_instructions_after_the_prompt() -> None:
    """System prompt, then the prompt, then the JSON instructions; the caller's prompt is kept."""
    request = build_request(
        BUILTIN_MODELS, model="echo", prompt="hello", system_prompt=SYSTEM, json_mode=True
    )
    sent = request.cli_prompt(native_schema=False)
    assert sent.startswith(WRAPPED) and len(sent) > len(WRAPPED)
    assert request.prompt == "hello"


def test_a_prepended_prompt_that_starts_with_a_dash_is_no_flag() -> None:
    """The tags come first, so a prompt starting with '-' is not read as a flag by a CLI that
    takes it at a placeholder."""
    spec = ModelSpec(name="cli", command=("cli", "-p", "{prompt}"))
    invocation = build_invocation(spec, "-x", base_env=BASE_ENV, system_prompt=SYSTEM)
    assert invocation.argv == ("cli", "-p", with_system_prompt("-x", SYSTEM))


def test_a_custom_spec_places_its_flag_at_the_marker() -> None:
    spec = ModelSpec(
        name="cli",
        command=("cli", "{system_prompt_args}", "run"),
        system_prompt_args=("--sys={system_prompt}",),
        prompt_separator="--",
    )
    invocation = build_invocation(spec, "hi", base_env=BASE_ENV, system_prompt="be brief")
    assert invocation.argv == ("cli", "--sys=be brief", "run", "--", "hi")
    assert build_invocation(spec, "hi", base_env=BASE_ENV).argv == ("cli", "run", "--", "hi")


def test_system_prompt_args_must_say_where_the_text_goes() -> None:
    with pytest.raises(FieldValueError, match=r"must say where the system prompt goes"):
        ModelSpec(name="cli", command=("cli",), system_prompt_args=("--system",))


def test_a_system_prompt_read_as_a_flag_is_refused() -> None:
    """`-g system -x`: the openai CLI would read '-x' as a flag; refused with the fix."""
    with pytest.raises(InvalidInputError, match=r"system_prompt starts with '-'.*'gpt-4'"):
        _argv("gpt-4", system_prompt="- be brief")
    # Prepended, a leading dash is harmless.
    assert _argv("echo", system_prompt="- be brief")[-1].startswith("<system>\n- be brief")


def test_a_system_prompt_too_large_for_one_argument_is_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"system_prompt is \d+ bytes, more than one"):
        _argv("claude", system_prompt="x" * (128 * 1024))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, r"system_prompt must be a string, got int"),
        ("a\x00b", r"system_prompt contains a NUL character"),
        ("\ud800", r"system_prompt is not valid Unicode text \(a lone surrogate, U\+D800"),
    ],
)
def test_a_system_prompt_that_cannot_reach_a_cli_is_refused(value: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as refused:
        build_request(BUILTIN_MODELS, model="echo", prompt="hi", system_prompt=value)  # type: ignore[arg-type]
    assert refused.value.kind == "invalid_input"


def test_the_calls_directory_replaces_the_specs() -> None:
    spec = ModelSpec(name="cli", command=("cli",), cwd="/srv/spec")
    request = build_request({"cli": spec}, model="cli", prompt="hi", cwd="/srv/call")
    assert invocation_for(request, native_schema=False, base_env=BASE_ENV).cwd == "/srv/call"
    plain = build_request({"cli": spec}, model="cli", prompt="hi")
    assert invocation_for(plain, native_schema=False, base_env=BASE_ENV).cwd == "/srv/spec"
