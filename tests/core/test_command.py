"""Tests for llminst._core.command: how a prompt becomes argv, environment and stdin bytes."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llminst._core.builtins import BUILTIN_MODELS
from llminst._core.command import Invocation, build_invocation
from llminst._core.errors import InvalidInputError
from llminst._core.spec import ModelSpec, PromptMode
from llminst._core.streamjson import prompt_input

BASE_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/home/u", "LANG": "C.UTF-8"}
HARD_LIMIT = 128 * 1024  # Linux MAX_ARG_STRLEN, the terminating NUL included
SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "fish", "csh", "tcsh", "cmd", "cmd.exe", "pwsh"}

ECHO, CLAUDE, GEMINI, GPT4, LLAMA = (
    BUILTIN_MODELS[name] for name in ("echo", "claude", "gemini", "gpt-4", "llama")
)


def _invoke(spec: ModelSpec, prompt: str, **kwargs: Any) -> Invocation:
    kwargs.setdefault("base_env", BASE_ENV)
    return build_invocation(spec, prompt, **kwargs)


def _reads_stdin(spec: ModelSpec) -> bool:
    return spec.stdin_fallback or spec.prompt_mode is PromptMode.STDIN


def _cli(**fields: Any) -> ModelSpec:
    """A custom spec running `cli --a`, with `fields` overriding."""
    fields.setdefault("command", ("cli", "--a"))
    return ModelSpec(name="cli", **fields)


# A CLI taking the prompt at a `{prompt}` placeholder and not reading stdin (gemini's old spec).
PLACEHOLDER = ModelSpec(name="placeholder", command=("cli", "-y", "-p", "{prompt}"))


# ---------------------------------------------------------------------------------------------
# argv layout


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (PLACEHOLDER, ("cli", "-y", "-p", "hello there")),
        (
            GPT4,
            (
                "openai",
                "api",
                "chat.completions.create",
                "-g",
                "user",
                "hello there",
                "-m",
                "gpt-4",
            ),
        ),
    ],
    ids=["placeholder", "gpt-4"],
)
def test_placeholder_is_replaced_in_place(spec: ModelSpec, expected: tuple[str, ...]) -> None:
    """An element exactly `{prompt}` becomes the prompt, at that position, and nothing is appended."""
    inv = _invoke(spec, "hello there")
    assert inv.argv == expected
    assert inv.stdin is None
    assert inv.prompt_via == "argv"


def test_prompt_is_appended_after_the_separator() -> None:
    """Without a placeholder the prompt is the last element, right after the `--` separator."""
    inv = _invoke(ECHO, "hello there")
    assert inv.argv == (*ECHO.command, "--", "hello there")
    assert inv.stdin is None


@pytest.mark.parametrize("prompt", ["hello there", "--help me", "line ✓\n" * 20_000])
def test_claude_gets_the_prompt_as_a_stream_json_user_message(prompt: str) -> None:
    """claude runs as claude-agent-sdk does: no -p, `--input-format stream-json`, and on stdin an
    initialize request then the prompt as one user message; argv never holds the prompt, so a
    flag-like or over-128-KiB prompt arrives intact."""
    inv = _invoke(CLAUDE, prompt)
    assert "-p" not in inv.argv and prompt not in inv.argv
    assert inv.argv == CLAUDE.command
    assert inv.argv[-2:] == ("--input-format", "stream-json")
    assert inv.stdin is not None
    initialize, user = (json.loads(line) for line in inv.stdin.decode().splitlines())
    assert initialize["type"] == "control_request"
    assert initialize["request"] == {"subtype": "initialize", "hooks": None}
    assert user == {
        "type": "user",
        "session_id": "",
        "message": {"role": "user", "content": prompt},
        "parent_tool_use_id": None,
    }
    assert inv.stdin == prompt_input(prompt)


def test_prompt_is_appended_without_separator_when_none_is_set() -> None:
    """llama has no separator: the prompt is appended straight after the command."""
    assert _invoke(LLAMA, "hello").argv == ("ollama", "run", "llama2", "hello")


def test_extra_args_order_with_appended_prompt() -> None:
    """Order: command, sub-model args, stream args, JSON args, separator, prompt."""
    spec = _cli(
        prompt_separator="--",
        stream_args=("--s",),
        json_args=("--j", "1"),
        submodel_args=("--m", "{submodel}"),
    )
    inv = _invoke(spec, "P", stream=True, json_mode=True, submodel="big")
    assert inv.argv == ("cli", "--a", "--m", "big", "--s", "--j", "1", "--", "P")


def test_extra_args_order_with_placeholder() -> None:
    """With a placeholder the prompt stays in the command; the extra args follow the command."""
    spec = _cli(
        command=("cli", "-p", "{prompt}", "--x"),
        stream_args=("--s",),
        json_args=("--j",),
        submodel_args=("--m", "{submodel}"),
    )
    inv = _invoke(spec, "P", stream=True, json_mode=True, submodel="big")
    assert inv.argv == ("cli", "-p", "P", "--x", "--m", "big", "--s", "--j")


def test_extra_args_only_when_asked() -> None:
    """Stream and JSON args are left out when stream and json_mode are false."""
    spec = _cli(stream_args=("--s",), json_args=("--j",))
    assert _invoke(spec, "P").argv == ("cli", "--a", "P")
    assert _invoke(spec, "P", stream=True).argv == ("cli", "--a", "--s", "P")
    assert _invoke(spec, "P", json_mode=True).argv == ("cli", "--a", "--j", "P")


def test_builtin_stream_args() -> None:
    """Built-ins that stream get their flag after the command: before `-- prompt`, or last."""
    assert _invoke(ECHO, "hi", stream=True).argv == (*ECHO.command, "--stream", "--", "hi")
    assert _invoke(CLAUDE, "hi", stream=True).argv == (
        *CLAUDE.command,
        "--include-partial-messages",
    )
    assert _invoke(GPT4, "hi", stream=True).argv == (
        "openai",
        "api",
        "chat.completions.create",
        "-g",
        "user",
        "hi",
        "-m",
        "gpt-4",
        "--stream",
    )


def _default_submodel_args(spec: ModelSpec) -> tuple[str, ...]:
    if spec.default_submodel is None:
        return ()
    return tuple(part.replace("{submodel}", spec.default_submodel) for part in spec.submodel_args)


def test_default_submodel_fills_the_submodel_args() -> None:
    """gpt-4 alone runs `-m gpt-4` and llama alone `ollama run llama2`; a sub-model replaces it."""
    assert _invoke(GPT4, "hi").argv[-2:] == ("-m", "gpt-4")
    assert _invoke(GPT4, "hi", submodel="gpt-4o").argv[-2:] == ("-m", "gpt-4o")
    assert _invoke(LLAMA, "hi").argv == ("ollama", "run", "llama2", "hi")
    assert _invoke(LLAMA, "hi", submodel="llama3").argv == ("ollama", "run", "llama3", "hi")


def test_claude_submodel() -> None:
    """claude:sonnet adds `--model sonnet` after the command (the prompt is on stdin)."""
    inv = _invoke(CLAUDE, "hi", submodel="sonnet")
    assert inv.argv == (*CLAUDE.command, "--model", "sonnet")
    assert inv.stdin == prompt_input("hi")


def test_gemini_submodel() -> None:
    """gemini:gemini-2.5-pro adds `-m gemini-2.5-pro`; the prompt goes to stdin."""
    inv = _invoke(GEMINI, "hi", submodel="gemini-2.5-pro")
    assert inv.argv == (
        "gemini", "--yolo", "--output-format", "stream-json", "-m", "gemini-2.5-pro"
    )  # fmt: skip
    assert inv.stdin == b"hi"
    assert inv.env["GEMINI_CLI_TRUST_WORKSPACE"] == "true"


@pytest.mark.parametrize("prompt", ["hi", "--help me", "x" * (HARD_LIMIT + 1)])
def test_gemini_and_codex_always_take_the_prompt_on_stdin(prompt: str) -> None:
    """gemini and codex read any prompt (huge, flag-like) from stdin; argv never carries it."""
    gemini = _invoke(GEMINI, prompt)
    codex = _invoke(BUILTIN_MODELS["codex"], prompt, submodel="gpt-5")
    assert gemini.argv == ("gemini", "--yolo", "--output-format", "stream-json")
    assert codex.argv == (
        "codex", "exec", "--json", "--skip-git-repo-check", "-", "-m", "gpt-5", "--ephemeral"
    )  # fmt: skip
    assert gemini.stdin == codex.stdin == prompt.encode()


@pytest.mark.parametrize("spec", [ECHO, _cli()], ids=["echo", "custom"])
def test_submodel_without_submodel_args_names_the_fix(spec: ModelSpec) -> None:
    """A sub-model for a spec without submodel_args is refused, saying to set submodel_args."""
    with pytest.raises(InvalidInputError) as info:
        _invoke(spec, "hi", submodel="fast")
    message = str(info.value)
    assert f"{spec.name}:fast" in message
    assert "submodel_args" in message
    assert '["--model", "{submodel}"]' in message


def test_submodel_placeholder_inside_an_element() -> None:
    """`--model={submodel}` becomes `--model=big`; regression: the literal text was passed."""
    spec = _cli(submodel_args=("--model={submodel}", "--tag", "x-{submodel}-y"))
    inv = _invoke(spec, "P", submodel="big")
    assert inv.argv == ("cli", "--a", "--model=big", "--tag", "x-big-y", "P")


def test_prompt_placeholder_is_an_exact_element_only() -> None:
    """`{prompt}` inside a longer element is passed as is; the prompt is appended instead."""
    spec = _cli(command=("cli", "--p={prompt}"))
    assert _invoke(spec, "P").argv == ("cli", "--p={prompt}", "P")


# ---------------------------------------------------------------------------------------------
# environment and cwd


def test_environment_layers() -> None:
    """base_env minus env_remove, then the spec's env, then extra_env, each overriding the last."""
    base = {"PATH": "/bin", "SECRET": "s", "KEEP": "base", "BOTH": "base"}
    spec = _cli(env_remove=("SECRET", "ABSENT"), env={"KEEP": "spec", "SPEC": "1", "BOTH": "spec"})
    inv = _invoke(spec, "P", base_env=base, extra_env={"BOTH": "extra", "CALL": "2"})
    assert inv.env == {
        "PATH": "/bin",
        "KEEP": "spec",
        "SPEC": "1",
        "BOTH": "extra",
        "CALL": "2",
    }


def test_env_remove_does_not_remove_what_the_spec_sets() -> None:
    """env_remove applies to the inherited environment only; the spec's own env is kept."""
    spec = _cli(env_remove=("TOKEN",), env={"TOKEN": "from-spec"})
    assert _invoke(spec, "P", base_env={"TOKEN": "inherited"}).env == {"TOKEN": "from-spec"}


def test_base_env_is_never_mutated() -> None:
    """The caller's base_env is copied: removals and additions never touch it."""
    base = {"PATH": "/bin", "SECRET": "s"}
    snapshot = dict(base)
    spec = _cli(env_remove=("SECRET",), env={"NEW": "1"})
    inv = _invoke(spec, "P", base_env=base, extra_env={"X": "2"})
    assert base == snapshot
    assert inv.env is not base
    assert _invoke(_cli(), "P", base_env=base).env is not base


def test_cwd_comes_from_the_spec() -> None:
    """The invocation's cwd is the spec's (None: the server's)."""
    assert _invoke(_cli(cwd="/srv/work"), "P").cwd == "/srv/work"
    assert _invoke(_cli(), "P").cwd is None


# ---------------------------------------------------------------------------------------------
# stdin routing


def test_stdin_mode_sends_the_prompt_to_stdin_only() -> None:
    """prompt_mode = stdin: the exact UTF-8 bytes go to stdin, argv has no prompt or separator."""
    spec = _cli(prompt_mode=PromptMode.STDIN, prompt_separator="--", stream_args=("--s",))
    prompt = "héllo\nwörld ✓"
    inv = _invoke(spec, prompt, stream=True)
    assert inv.argv == ("cli", "--a", "--s")
    assert inv.stdin == prompt.encode("utf-8")
    assert inv.prompt_via == "stdin"


def test_stdin_mode_drops_the_placeholder() -> None:
    """prompt_mode = stdin with a `{prompt}` element: the element is left out of argv."""
    spec = _cli(command=("cli", "{prompt}", "--x"), prompt_mode=PromptMode.STDIN)
    inv = _invoke(spec, "P")
    assert inv.argv == ("cli", "--x")
    assert inv.stdin == b"P"


def test_empty_prompt_goes_to_stdin_as_empty_bytes_in_stdin_mode() -> None:
    """An empty prompt in stdin mode is an empty stdin, not /dev/null."""
    assert _invoke(_cli(prompt_mode=PromptMode.STDIN), "").stdin == b""


def test_limit_counts_utf8_bytes() -> None:
    """argv_prompt_limit is in UTF-8 bytes: 5 × 'é' (10 bytes) fits a limit of 10, 6 do not."""
    spec = _cli(argv_prompt_limit=10, stdin_fallback=True)
    assert _invoke(spec, "é" * 5).argv == ("cli", "--a", "é" * 5)
    inv = _invoke(spec, "é" * 6)
    assert inv.argv == ("cli", "--a")
    assert inv.stdin == ("é" * 6).encode("utf-8")


@pytest.mark.parametrize("spec", [ECHO, LLAMA], ids=["echo", "llama"])
def test_oversized_prompt_goes_to_stdin_with_fallback(spec: ModelSpec) -> None:
    """A prompt over the argv limit goes to stdin, byte for byte, when the CLI reads stdin."""
    prompt = "line of text ✓\n" * 10_000  # 170,000 UTF-8 bytes
    inv = _invoke(spec, prompt)
    assert inv.stdin == prompt.encode("utf-8")
    # neither the prompt nor the separator (llama: `ollama run llama2`, its default sub-model)
    assert inv.argv == (*spec.command, *_default_submodel_args(spec))
    assert inv.prompt_via == "stdin"


def test_oversized_prompt_under_the_hard_limit_stays_in_argv_without_fallback() -> None:
    """Over argv_prompt_limit but under 128 KiB, a CLI without stdin still gets it as argv."""
    prompt = "x" * (GPT4.argv_prompt_limit + 1)
    inv = _invoke(GPT4, prompt)
    assert inv.stdin is None
    assert prompt in inv.argv


@pytest.mark.parametrize("spec", [PLACEHOLDER, GPT4], ids=["placeholder", "gpt-4"])
def test_prompt_over_128_kib_without_fallback_is_refused(spec: ModelSpec) -> None:
    """Over 128 KiB with no stdin route the prompt is refused, saying to shorten or use stdin."""
    with pytest.raises(InvalidInputError) as info:
        _invoke(spec, "x" * (HARD_LIMIT + 1))
    message = str(info.value)
    assert str(HARD_LIMIT + 1) in message
    assert repr(spec.name) in message
    assert 'prompt_mode = "stdin"' in message
    assert "stdin_fallback = true" in message


def test_prompt_of_exactly_128_kib_without_fallback_is_refused() -> None:
    """A prompt of exactly 131072 bytes cannot be one argv element (the NUL counts): refused.

    Regression: only sizes over 131072 were refused, and `true` + 'x'*131072 fails with E2BIG.
    """
    with pytest.raises(InvalidInputError, match=str(HARD_LIMIT)):
        _invoke(GPT4, "x" * HARD_LIMIT)


def test_prompt_one_byte_under_128_kib_stays_in_argv_without_fallback() -> None:
    """131071 bytes plus the NUL fit one argv element, so a CLI without stdin still gets it."""
    prompt = "x" * (HARD_LIMIT - 1)
    assert prompt in _invoke(GPT4, prompt).argv


def test_prompt_of_exactly_128_kib_goes_to_stdin_with_fallback() -> None:
    """With stdin_fallback a 131072-byte prompt goes to stdin even under a higher argv limit."""
    spec = _cli(argv_prompt_limit=HARD_LIMIT * 2, stdin_fallback=True)
    assert _invoke(spec, "x" * HARD_LIMIT).prompt_via == "stdin"


@pytest.mark.parametrize("fallback", [True, False], ids=["fallback", "no-fallback"])
def test_hard_limit_applies_whatever_the_configured_limit(fallback: bool) -> None:
    """A prompt over 128 KiB never goes to argv, even when argv_prompt_limit is set higher.

    Regression: the hard limit applied only over argv_prompt_limit, so the spawn failed (E2BIG).
    """
    spec = _cli(argv_prompt_limit=1_000_000, stdin_fallback=fallback)
    prompt = "x" * 200_000
    if fallback:
        assert _invoke(spec, prompt).stdin == prompt.encode()
    else:
        with pytest.raises(InvalidInputError, match="stdin"):
            _invoke(spec, prompt)


def test_flag_like_prompt_goes_to_stdin_without_separator() -> None:
    """llama (no separator, reads stdin): a prompt starting with '-' goes to stdin."""
    inv = _invoke(LLAMA, "-v")
    assert inv.argv == (*LLAMA.command, "llama2")
    assert inv.stdin == b"-v"


def test_flag_like_prompt_with_placeholder_goes_to_stdin_with_fallback() -> None:
    """A `{prompt}` placeholder has no separator: a '-' prompt goes to stdin if the CLI reads it."""
    spec = _cli(command=("cli", "-p", "{prompt}"), prompt_separator="--", stdin_fallback=True)
    inv = _invoke(spec, "--help")
    assert inv.argv == ("cli", "-p")
    assert inv.stdin == b"--help"


def test_flag_like_prompt_goes_after_the_separator() -> None:
    """With a separator, a prompt starting with '-' stays in argv right after `--`."""
    inv = _invoke(ECHO, "--help me")
    assert inv.argv[-2:] == ("--", "--help me")
    assert inv.stdin is None


@pytest.mark.parametrize("spec", [PLACEHOLDER, GPT4], ids=["placeholder", "gpt-4"])
def test_flag_like_prompt_without_separator_or_stdin_is_refused(spec: ModelSpec) -> None:
    """A prompt like `--help` that a CLI would read as a flag is refused, naming the fixes.

    Regression: it was passed to argv, so gpt-4 got `-g user --help`, which argparse rejects.
    """
    with pytest.raises(InvalidInputError) as info:
        _invoke(spec, "--help")
    message = str(info.value)
    assert repr(spec.name) in message
    assert "read the prompt as a flag" in message
    assert "{prompt} placeholder" in message
    assert "with a space" in message
    assert "stdin_fallback = true" in message
    assert 'prompt_mode = "stdin"' in message


def test_flag_like_appended_prompt_without_separator_or_stdin_is_refused() -> None:
    """No placeholder, no separator, no stdin: a '-' prompt is refused, suggesting a separator."""
    with pytest.raises(InvalidInputError, match="no prompt_separator"):
        _invoke(_cli(), "-v")


@pytest.mark.parametrize(
    "spec", [PLACEHOLDER, GPT4, _cli()], ids=["placeholder", "gpt-4", "custom"]
)
def test_prompt_starting_with_a_space_is_not_a_flag(spec: ModelSpec) -> None:
    """The suggested fix works: ' --help' is passed to argv unchanged."""
    inv = _invoke(spec, " --help")
    assert " --help" in inv.argv
    assert inv.stdin is None


def test_empty_separator_does_not_expose_a_flag_like_prompt() -> None:
    """prompt_separator = "" is no separator: a '-' prompt goes to stdin, or is refused.

    Regression: "" counted as a separator for routing but appended none, exposing a bare flag.
    """
    inv = _invoke(_cli(prompt_separator="", stdin_fallback=True), "--help")
    assert inv.stdin == b"--help"
    assert inv.argv == ("cli", "--a")
    with pytest.raises(InvalidInputError, match="flag"):
        _invoke(_cli(prompt_separator=""), "--help")


@pytest.mark.parametrize("spec", list(BUILTIN_MODELS.values()), ids=list(BUILTIN_MODELS))
def test_nul_in_prompt_is_refused(spec: ModelSpec) -> None:
    """A NUL character cannot be in argv or a C string: refused with an error saying so."""
    with pytest.raises(InvalidInputError, match="NUL"):
        _invoke(spec, "before\x00after")


@pytest.mark.parametrize(
    "prompt",
    [
        "\ud800",
        "ok \udbff then",
        pytest.param(
            "\udc80",
        ),
    ],
    ids=["high-alone", "high-inside", "low-escape-range"],
)
def test_lone_surrogate_is_refused(prompt: str) -> None:
    """A lone surrogate is not Unicode text: refused, asking for valid UTF-8 text.

    Regression: surrogateescape sent U+DC80..U+DCFF as raw invalid bytes (0x80).
    """
    with pytest.raises(InvalidInputError, match="not valid Unicode") as info:
        _invoke(ECHO, prompt)
    assert "valid UTF-8" in str(info.value)


# ---------------------------------------------------------------------------------------------
# property: the prompt arrives once, intact

SENTINEL = "\x01sentinel\x01"
_characters = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\x01")
_prompts = st.one_of(
    st.text(_characters),
    st.text(_characters).map(lambda s: "-" + s),
    st.sampled_from(["", "-", "--", "-p", "--help", "{prompt}", "{submodel}", "a b", " -x"]),
)


@given(
    name=st.sampled_from(sorted(BUILTIN_MODELS)),
    prompt=_prompts,
    stream=st.booleans(),
    json_mode=st.booleans(),
    limit=st.one_of(st.none(), st.integers(min_value=1, max_value=64)),
    submodel=st.one_of(st.none(), st.text(_characters, min_size=1, max_size=12)),
)
def test_prompt_arrives_once_and_intact(
    name: str,
    prompt: str,
    stream: bool,
    json_mode: bool,
    limit: int | None,
    submodel: str | None,
) -> None:
    """For every built-in the prompt is exactly one argv element or exactly stdin, unaltered.

    The one exception: a prompt starting with '-' that the CLI would read as a flag (no separator
    before it) is refused when the CLI cannot take it on stdin instead.
    """
    spec = BUILTIN_MODELS[name]
    if not spec.submodel_args:
        submodel = None
    options: dict[str, Any] = {"stream": stream, "json_mode": json_mode, "submodel": submodel}
    if spec.prompt_mode is not PromptMode.ARGV:  # claude, gemini, codex: stdin, never argv
        inv = _invoke(attrs.evolve(spec, argv_prompt_limit=limit or 1), prompt, **options)
        expected = prompt.encode("utf-8")
        if spec.prompt_mode is PromptMode.STREAM_JSON:  # claude: inside a JSON user message
            expected = prompt_input(prompt)
            assert json.loads(inv.stdin.splitlines()[1])["message"]["content"] == prompt
        assert inv.stdin == expected
        assert inv.argv == _invoke(spec, SENTINEL, **options).argv
        return
    # The same call with a harmless prompt shows where the prompt goes and what surrounds it.
    reference = list(_invoke(spec, SENTINEL, **options).argv)
    at = reference.index(SENTINEL)
    if limit is not None:
        spec = attrs.evolve(spec, argv_prompt_limit=limit)
    unprotected = spec.prompt_separator is None or "{prompt}" in spec.command
    if prompt.startswith("-") and unprotected and not _reads_stdin(spec):
        with pytest.raises(InvalidInputError, match="read the prompt as a flag"):
            _invoke(spec, prompt, **options)
        return

    inv = _invoke(spec, prompt, **options)

    assert os.path.basename(inv.argv[0]) not in SHELLS
    assert inv.argv[0] == spec.command[0]
    if inv.stdin is None:
        assert inv.argv[at] == prompt
        assert [*inv.argv[:at], *inv.argv[at + 1 :]] == reference[:at] + reference[at + 1 :]
    else:
        assert _reads_stdin(spec)
        assert inv.stdin.decode("utf-8") == prompt
        del reference[at]
        if spec.prompt_separator and "{prompt}" not in spec.command:
            assert reference.pop(at - 1) == spec.prompt_separator
        assert list(inv.argv) == reference


def test_echo_argv_is_this_interpreter() -> None:
    """echo's argv starts with sys.executable, never a shell."""
    assert _invoke(ECHO, "hi").argv[:3] == (sys.executable, "-m", "llminst.echo")
