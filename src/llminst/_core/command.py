"""Where a prompt becomes argv, environment and stdin bytes: spec + request -> `Invocation`.

The prompt is never split, never passed through a shell and never interpreted: it is one argv
element, the whole of stdin, byte for byte (strict UTF-8), or the text of one stream-json
``user`` message on stdin (``prompt_mode = "stream-json"``, claude's fast launch: `streamjson`). When the CLI reads stdin
(``stdin_fallback``) the prompt goes there instead of argv if it is larger than the spec's
``argv_prompt_limit``, larger than any one argument can be (128 KiB on Linux, whatever the limit
says), or starts with ``-`` where the CLI would read it as a flag (no ``prompt_separator``, or the
prompt sits at a ``{prompt}`` placeholder). A CLI that does not read stdin still gets a prompt
that is merely over ``argv_prompt_limit`` in argv, but a prompt too large for one argument or
read as a flag is refused with an error that says what to configure. A system prompt goes
through the CLI's own flag (``system_prompt_args``) where the spec has one, else it is prepended
to the prompt (`request.with_system_prompt`). The call's directory, else the spec's, is the
invocation's ``cwd``. The argv pieces and where the prompt may go are `argparts`; the
environment is `environment` (re-exported here). Pure: the caller passes the base environment in.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from .argparts import (
    ARGV_ELEMENT_MAX_BYTES,
    base_command,
    prompt_goes_to_stdin,
    submodel_args,
    system_prompt_args,
)
from .environment import environment, environment_view
from .errors import InvalidInputError
from .request import CallRequest, with_system_prompt
from .sessions import Continuation, Replay, Resume, history_argv
from .spec import (
    HISTORY_PLACEHOLDER,
    PROMPT_PLACEHOLDER,
    RESUME_PLACEHOLDER,
    SCHEMA_PLACEHOLDER,
    SESSION_ID_PLACEHOLDER,
    SYSTEM_ARGS_PLACEHOLDER,
    ModelSpec,
    PromptMode,
)
from .streamjson import prompt_input

__all__ = [
    "PROMPT_STAND_IN",
    "STDIN_NOTE",
    "Invocation",
    "build_invocation",
    "command_line",
    "environment",
    "invocation_for",
]


@frozen
class Invocation:
    """What to start: argv, the complete environment, stdin bytes (None: /dev/null), cwd."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    stdin: bytes | None
    cwd: str | None

    @property
    def prompt_via(self) -> str:
        return "stdin" if self.stdin is not None else "argv"


def build_invocation(
    spec: ModelSpec,
    prompt: str,
    *,
    base_env: Mapping[str, str],
    stream: bool = False,
    json_mode: bool = False,
    submodel: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    native_schema: Mapping[str, Any] | None = None,
    system_prompt: str | None = None,
    cwd: str | None = None,
    session: str | None = None,
    continuation: Continuation | None = None,
) -> Invocation:
    """Build the process invocation for one attempt.

    Args:
        spec: the model.
        prompt: the complete prompt (JSON instructions already added).
        base_env: the environment to start from (usually the server's).
        stream: add the spec's streaming args.
        json_mode: add the spec's JSON args.
        submodel: the part after ``:`` in ``claude:sonnet``; needs `spec.submodel_args`.
            None: the spec's `default_submodel`, if any.
        extra_env: variables set for this call only (after the spec's own).
        native_schema: hand this JSON schema to the CLI through `spec.json_schema_args`
            (the caller checked the CLI supports them; the prompt then has no instructions).
        system_prompt: passed by the spec's ``system_prompt_args``, else prepended to `prompt`.
        cwd: the directory the CLI runs in (None: the spec's ``cwd``).
        session: the llminst session the call belongs to (None: the spec's
            ``sessionless_args`` are added).
        continuation: `Resume` adds the spec's ``resume_args``; `Replay` adds the turns as
            ``history_args`` (a spec without them has the transcript in `prompt` already).

    Raises:
        InvalidInputError: the prompt cannot reach this CLI intact (a NUL or a lone surrogate;
            too large for one argument, or starting with ``-`` where the CLI would read it as a
            flag, and the CLI does not read stdin), or a sub-model was asked of a model that has
            no way to select one.
    """
    env = environment(spec, base_env, extra_env)
    native_system = system_prompt if spec.system_prompt_args else None
    if native_system is None:
        prompt = with_system_prompt(prompt, system_prompt)
    conversation = _Conversation(in_session=session is not None, continuation=continuation)
    options = _Options(stream, json_mode, submodel, native_schema, native_system, cwd, conversation)
    return _invocation(spec, prompt, env, options)


@frozen
class _Conversation:
    """Whether the call belongs to a session, and how it continues it."""

    in_session: bool = False
    continuation: Continuation | None = None

    def resume_args(self, spec: ModelSpec) -> list[str]:
        if not isinstance(self.continuation, Resume):
            return []
        session_id = self.continuation.session_id
        return [part.replace(SESSION_ID_PLACEHOLDER, session_id) for part in spec.resume_args]

    def history_args(self, spec: ModelSpec) -> list[str]:
        if not isinstance(self.continuation, Replay) or not spec.history_args:
            return []
        argv = history_argv(spec.history_args, self.continuation.turns)
        for part in argv:
            if (
                "\x00" in part
                or len(part.encode("utf-8", "surrogatepass")) > ARGV_ELEMENT_MAX_BYTES
            ):
                raise InvalidInputError(
                    f"an earlier message of this session is too large for one command-line "
                    f"argument, or holds a NUL, so model {spec.name!r} cannot be given the "
                    "conversation; continue it with a model that resumes its own session "
                    "(claude, codex, gemini) or start a new session"
                )
        return argv


@frozen
class _Options:
    """What an attempt adds to the spec's command beside the prompt."""

    stream: bool
    json_mode: bool
    submodel: str | None
    native_schema: Mapping[str, Any] | None
    system_prompt: str | None  # passed by the spec's system_prompt_args
    cwd: str | None
    conversation: _Conversation = _Conversation()


def _invocation(
    spec: ModelSpec, prompt: str, env: Mapping[str, str], options: _Options
) -> Invocation:
    if "\x00" in prompt:
        raise InvalidInputError(
            "the prompt contains a NUL character, which no process argument or CLI can carry; "
            "remove it"
        )
    try:
        encoded = prompt.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"the prompt is not valid Unicode text (a lone surrogate, U+{ord(prompt[exc.start]):04X}, "
            f"at position {exc.start}); send valid UTF-8 text"
        ) from None
    via_stdin = prompt_goes_to_stdin(spec, prompt, len(encoded))
    system_args = system_prompt_args(spec, options.system_prompt)
    conversation = options.conversation
    resume = conversation.resume_args(spec)
    history = conversation.history_args(spec)
    argv = base_command(spec, prompt if not via_stdin else None, system_args, resume, history)
    if RESUME_PLACEHOLDER not in spec.command:
        argv += resume
    argv += submodel_args(spec, options.submodel)
    if not conversation.in_session:
        argv += spec.sessionless_args
    if options.stream:
        argv += spec.stream_args
    if options.json_mode:
        argv += spec.json_args
    if options.native_schema is not None:
        schema_text = json.dumps(options.native_schema, separators=(",", ":"), ensure_ascii=False)
        argv += [part.replace(SCHEMA_PLACEHOLDER, schema_text) for part in spec.json_schema_args]
    if SYSTEM_ARGS_PLACEHOLDER not in spec.command:
        argv += system_args
    if HISTORY_PLACEHOLDER not in spec.command:
        argv += history
    if not via_stdin and PROMPT_PLACEHOLDER not in spec.command:
        if spec.prompt_separator is not None:
            argv.append(spec.prompt_separator)
        argv.append(prompt)
    if spec.prompt_mode is PromptMode.STREAM_JSON:
        encoded = prompt_input(prompt)
    return Invocation(
        argv=tuple(argv),
        env=env,
        stdin=encoded if via_stdin else None,
        cwd=options.cwd if options.cwd is not None else spec.cwd,
    )


def invocation_for(
    request: CallRequest,
    *,
    native_schema: bool,
    base_env: Mapping[str, str],
    extra_env: Mapping[str, str] | None = None,
) -> Invocation:
    """The invocation of one attempt of `request`.

    Its environment is `base_env` itself (not a copy) when neither the spec nor `extra_env`
    changes it.

    Args:
        request: the call.
        native_schema: hand the schema to the CLI through ``json_schema_args`` (the caller
            checked that the CLI lists them) instead of instructions in the prompt.
        base_env: the environment to start from.
        extra_env: variables for this attempt only.

    Raises:
        InvalidInputError: as `build_invocation`.
    """
    native = native_schema and request.schema is not None
    options = _Options(
        stream=request.cli_streaming,
        json_mode=request.json_mode,
        submodel=request.submodel,
        native_schema=request.schema if native else None,
        system_prompt=request.system_prompt if request.native_system_prompt else None,
        cwd=request.cwd,
        conversation=_Conversation(
            in_session=request.session is not None, continuation=request.continuation
        ),
    )
    return _invocation(
        request.spec,
        request.cli_prompt(native_schema=native),
        environment_view(request.spec, base_env, extra_env),
        options,
    )


PROMPT_STAND_IN = "PROMPT"
"""What `command_line` shows where the prompt goes."""
STDIN_NOTE = " (prompt on stdin)"
"""What `command_line` appends for a CLI that reads the prompt from stdin."""


def command_line(spec: ModelSpec, *, submodel: str | None = None) -> str:
    """The command llminst runs for a plain call of `spec`, as a shell-quoted line to read.

    Built with `build_invocation` itself, so it shows what runs (the default sub-model, the
    prompt separator, ``{prompt}`` resolved) with `PROMPT_STAND_IN` where the prompt goes, or
    `STDIN_NOTE` after it for a CLI that reads the prompt from stdin.

    Raises:
        InvalidInputError: `submodel` was given for a model that cannot select one.
    """
    invocation = build_invocation(spec, PROMPT_STAND_IN, base_env={}, submodel=submodel)
    line = shlex.join(invocation.argv)
    return line + STDIN_NOTE if invocation.stdin is not None else line
