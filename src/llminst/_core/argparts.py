"""The pieces of a CLI's argv beside the prompt, and where the prompt may go.

Each function fills one part of a spec's command (its placeholders, the system prompt's flag,
the sub-model's flag) or decides whether the prompt goes to argv or stdin, and refuses, with an
`InvalidInputError` that says what to configure, whatever no command-line argument can carry
as it is. Pure; `command` assembles the pieces into an `Invocation`.
"""

from __future__ import annotations

from .errors import InvalidInputError
from .spec import (
    HISTORY_PLACEHOLDER,
    PROMPT_PLACEHOLDER,
    RESUME_PLACEHOLDER,
    SUBMODEL_PLACEHOLDER,
    SYSTEM_ARGS_PLACEHOLDER,
    SYSTEM_PROMPT_PLACEHOLDER,
    ModelSpec,
    PromptMode,
)

__all__ = [
    "ARGV_ELEMENT_MAX_BYTES",
    "base_command",
    "prompt_goes_to_stdin",
    "submodel_args",
    "system_prompt_args",
]

# Linux's MAX_ARG_STRLEN is 128 KiB *including* the terminating NUL: one argv element of more
# bytes than this fails with E2BIG before the CLI starts.
ARGV_ELEMENT_MAX_BYTES = 128 * 1024 - 1


def prompt_goes_to_stdin(spec: ModelSpec, prompt: str, size: int) -> bool:
    """Whether the prompt goes to stdin; raises when it can go neither there nor to argv."""
    if spec.prompt_mode is not PromptMode.ARGV:
        return True
    too_big_for_argv = size > ARGV_ELEMENT_MAX_BYTES
    read_as_flag = _read_as_flag(spec, prompt)
    if not (too_big_for_argv or read_as_flag or size > spec.argv_prompt_limit):
        return False
    if spec.stdin_fallback:
        return True
    if too_big_for_argv:
        raise InvalidInputError(
            f"the prompt is {size} bytes, more than one command-line argument can hold "
            f"({ARGV_ELEMENT_MAX_BYTES} bytes on Linux), and model {spec.name!r} does not read "
            'prompts from stdin; shorten the prompt, or set prompt_mode = "stdin" (or '
            "stdin_fallback = true) for this model if its CLI reads stdin"
        )
    if read_as_flag:
        raise InvalidInputError(_flag_message(spec))
    # Only over argv_prompt_limit: it still fits in one argument, so argv it is.
    return False


def _read_as_flag(spec: ModelSpec, prompt: str) -> bool:
    """A ``-`` prompt with no separator before it (none set, or at `{prompt}`) reads as a flag."""
    at_placeholder = PROMPT_PLACEHOLDER in spec.command
    return prompt.startswith("-") and (spec.prompt_separator is None or at_placeholder)


def _flag_message(spec: ModelSpec) -> str:
    where = (
        "at its {prompt} placeholder, where no separator can precede it"
        if PROMPT_PLACEHOLDER in spec.command
        else 'with no prompt_separator (such as "--") before it'
    )
    return (
        f"the prompt starts with '-' and model {spec.name!r} passes it {where}, so its CLI would "
        "read the prompt as a flag (and it does not read prompts from stdin); start the prompt "
        'with a space or another character, or set stdin_fallback = true (or prompt_mode = "stdin") '
        "for this model if its CLI reads stdin"
    )


def base_command(
    spec: ModelSpec,
    prompt: str | None,
    system_args: list[str],
    resume: list[str],
    history: list[str],
) -> list[str]:
    """The command with its placeholders filled: the prompt (unless it goes to stdin), the
    system prompt's args, the resume args and the replayed messages (each dropped when there
    is none)."""
    filled = {
        PROMPT_PLACEHOLDER: [] if prompt is None else [prompt],
        SYSTEM_ARGS_PLACEHOLDER: system_args,
        RESUME_PLACEHOLDER: resume,
        HISTORY_PLACEHOLDER: history,
    }
    argv: list[str] = []
    for part in spec.command:
        argv += filled.get(part, [part])
    return argv


def system_prompt_args(spec: ModelSpec, system_prompt: str | None) -> list[str]:
    """The spec's system-prompt flag with the text in place; raises when no argument can
    carry it as it is."""
    if system_prompt is None:
        return []
    size = len(system_prompt.encode("utf-8"))
    if size > ARGV_ELEMENT_MAX_BYTES:
        raise InvalidInputError(
            f"system_prompt is {size} bytes, more than one command-line argument can hold "
            f"({ARGV_ELEMENT_MAX_BYTES} bytes on Linux), and model {spec.name!r} passes it as "
            "an argument; shorten it, or put the instructions in the prompt"
        )
    if system_prompt.startswith("-") and SYSTEM_PROMPT_PLACEHOLDER in spec.system_prompt_args:
        raise InvalidInputError(
            f"system_prompt starts with '-' and model {spec.name!r} passes it as an argument "
            "of its own, so its CLI would read it as a flag; start it with another character "
            "(a space, or a word before a list)"
        )
    return [
        part.replace(SYSTEM_PROMPT_PLACEHOLDER, system_prompt) for part in spec.system_prompt_args
    ]


def submodel_args(spec: ModelSpec, submodel: str | None) -> list[str]:
    submodel = submodel or spec.default_submodel
    if submodel is None:
        return []
    if not spec.submodel_args:
        raise InvalidInputError(
            f"model {spec.name!r} has no way to choose a sub-model, so {spec.name}:{submodel} "
            "cannot run; use the plain model name, or set submodel_args for it "
            '(e.g. ["--model", "{submodel}"])'
        )
    return [part.replace(SUBMODEL_PLACEHOLDER, submodel) for part in spec.submodel_args]
