"""`llminst run`: one prompt, its answer streamed to stdout.

stdout carries the answer alone (or, with ``--json``, the parsed JSON); retry notices, the error
line with the end of the CLI's stderr, and the live status line go to stderr (see
`llminst.terminal`). The call runs only through the supervisor, which this command makes a child
subreaper, and is recorded in the call store (``--store``, ``[store]``). This module must never
write anything but the answer to stdout, and never leave a process behind: a reader that goes
away (``| head``) stops the call.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

import trio

from .._core.errors import LLMError
from .._core.events import TextDelta
from .._core.records import CallOrigin
from .._core.result import CallResult
from ..supervisor import FallbackStarted, RetryScheduled, Supervisor, open_supervisor
from ..terminal import Screen
from .common import Setup, open_command_store

__all__ = ["run"]

# How much of the CLI's stderr `run` shows after an error (the result keeps more).
_TAIL_LINES = 10
_TAIL_CHARS = 2000


async def run(args: argparse.Namespace, setup: Setup) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    schema = None
    if args.schema:
        try:
            schema = await trio.Path(args.schema).read_text(encoding="utf-8")
        except OSError as exc:
            print(f"llminst: cannot read schema file {args.schema!r}: {exc}", file=sys.stderr)
            return 2
    screen = Screen(args.model, out=sys.stdout, err=sys.stderr)
    # `llminst run` owns every child of its process, so it can be a child subreaper: a
    # descendant that left its call's process group (setsid) is killed and reaped with it.
    async with (
        open_command_store(args, setup) as store,
        open_supervisor(
            models=setup.models,
            settings=setup.settings,
            subreaper=True,
            store=store,
            origin=CallOrigin.RUN,
            keep_prompts=setup.store.keep_prompts,
            budget=setup.budget,
        ) as supervisor,
        trio.open_nursery() as nursery,
    ):
        if screen.status is not None:
            nursery.start_soon(screen.status.run)
        try:
            result = await _stream_answer(supervisor, args, prompt, schema, screen)
        except LLMError as exc:
            screen.say(f"llminst: {exc.kind}: {_cli_message(exc, streamed=not args.json)}")
            tail = _unseen_stderr_tail(exc)
            if tail:
                screen.say("llminst: the CLI's stderr ends with:\n" + textwrap.indent(tail, "  "))
            return 1
        except trio.Cancelled:
            screen.leave_answer_line()  # the signal's message gets a line of its own
            raise
        finally:
            nursery.cancel_scope.cancel()
            screen.erase_status()
    if result is None:
        return 1  # the reader went away (`| head`): the call was stopped
    if args.json:
        print(json.dumps(result.parsed_json, indent=2, ensure_ascii=False))
    elif result.output and not result.output.endswith("\n"):
        print()
    return 0


def _cli_message(exc: LLMError, *, streamed: bool) -> str:
    """The error as a terminal user reads it: JSON mode's raw output (an attribute of the
    library's exception) follows the message unless it was already streamed to stdout."""
    raw = getattr(exc, "raw_output", "")
    if not raw or streamed:
        return exc.message
    return f"{exc.message}; the raw output follows\n--- raw output ---\n{raw}"


async def _stream_answer(
    supervisor: Supervisor,
    args: argparse.Namespace,
    prompt: str,
    schema: str | None,
    screen: Screen,
) -> CallResult | None:
    """Stream the call's answer to stdout; None if stdout's reader went away (call stopped)."""
    async with supervisor.open_stream(
        args.model,
        prompt,
        timeout=args.timeout,
        json_mode=args.json or schema is not None,
        json_schema=schema,
        system_prompt=args.system,
        cwd=args.cwd,
        fallbacks=args.fallback,
        session=args.session,
        cache=args.cache,
    ) as stream:
        async for event in stream.events():
            if isinstance(event, RetryScheduled):
                screen.say(f"[llminst] {event.reason}")
            elif isinstance(event, FallbackStarted):
                screen.say(
                    f"[llminst] {event.passed_over}: {event.reason}; falling back to {event.model}"
                )
            elif isinstance(event, TextDelta):
                if screen.status is not None:
                    screen.status.received += len(event.text.encode("utf-8", "replace"))
                if not args.json and not screen.answer(event.text):
                    return None
        return await stream.wait()


def _unseen_stderr_tail(exc: LLMError) -> str:
    """The end of the CLI's stderr, unless the error's message already quotes it."""
    tail = exc.result.stderr_tail.strip() if exc.result is not None else ""
    last_lines = "\n".join(tail.splitlines()[-_TAIL_LINES:])[-_TAIL_CHARS:]
    return "" if last_lines in str(exc) else last_lines
