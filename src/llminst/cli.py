"""The `llminst` command: `run` a prompt, list `models`, and `demo` the whole job on `echo`.

Answers go to stdout; logs and live status go to stderr. This module parses arguments and prints;
it runs calls only through the supervisor.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import trio

from . import __version__
from ._core.config import ModelSpec
from ._core.events import TextDelta
from ._core.retry import BackoffPolicy
from .configfile import load_config, resolve_models
from .errors import LLMError
from .logs import configure_logging
from .result import CallResult
from .supervisor import RetryScheduled, Supervisor, open_supervisor

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llminst", description="Run LLM command-line tools as supervised subprocesses."
    )
    parser.add_argument("--version", action="version", version=f"llminst {__version__}")
    parser.add_argument(
        "--config", help="config file (default: $LLMINST_CONFIG or user config dir)"
    )
    parser.add_argument("--log-level", default="warning", help="debug, info, warning, error")
    parser.add_argument("--log-format", default="console", choices=["console", "json"])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run one prompt and stream the answer to stdout")
    run.add_argument("model", help="model name, e.g. echo, claude, claude:sonnet")
    run.add_argument("prompt", help="the prompt ('-' reads it from stdin)")
    run.add_argument("--timeout", type=float, help="seconds (default: chosen from the prompt)")
    run.add_argument("--json", action="store_true", help="JSON mode: print the parsed JSON")
    run.add_argument("--schema", help="JSON Schema file for --json (default: question/answer)")

    commands.add_parser("models", help="list the configured models")
    commands.add_parser("demo", help="show the main features on the built-in echo model")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        configure_logging(level=args.log_level, fmt=args.log_format)
        models = resolve_models(load_config(args.config))
    except (ValueError, LLMError) as exc:
        print(f"llminst: {exc}", file=sys.stderr)
        return 2
    handler = {"run": _run, "models": _models, "demo": _demo}[args.command]
    try:
        return trio.run(handler, args, models)
    except KeyboardInterrupt:
        return 130


async def _run(args: argparse.Namespace, models: Mapping[str, ModelSpec]) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    schema = None
    if args.schema:
        try:
            schema = await trio.Path(args.schema).read_text(encoding="utf-8")
        except OSError as exc:
            print(f"llminst: cannot read schema file {args.schema!r}: {exc}", file=sys.stderr)
            return 2
    async with open_supervisor(models=models) as supervisor:
        try:
            async with supervisor.open_stream(
                args.model,
                prompt,
                timeout=args.timeout,
                json_mode=args.json or schema is not None,
                json_schema=schema,
            ) as stream:
                async for event in stream.events():
                    if isinstance(event, RetryScheduled):
                        print(f"[llminst] {event.reason}", file=sys.stderr, flush=True)
                    elif isinstance(event, TextDelta) and not args.json:
                        sys.stdout.write(event.text)
                        sys.stdout.flush()
                result = await stream.wait()
        except LLMError as exc:
            print(f"\nllminst: {exc.kind}: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(result.parsed_json, indent=2, ensure_ascii=False))
    elif result.output and not result.output.endswith("\n"):
        print()
    return 0


async def _models(_args: argparse.Namespace, models: Mapping[str, ModelSpec]) -> int:
    for name, spec in sorted(models.items()):
        print(f"{name:10} {spec.timeout_category.value:9} {' '.join(spec.command)}")
    return 0


async def _demo(_args: argparse.Namespace, models: Mapping[str, ModelSpec]) -> int:
    """Show each feature once on the echo model."""
    # A short backoff so the retry step takes a moment, not the seconds a real CLI needs.
    quick_retries = BackoffPolicy(initial_s=0.1, maximum_s=1.0, jitter_s=0.1)
    async with open_supervisor(models=models, backoff=quick_retries) as supervisor:
        await _demo_step(supervisor, "plain call", "echo", "Hello from llminst!")
        print("== streaming (chunks as they arrive)")
        async with supervisor.open_stream("echo", "one two three four five") as stream:
            async for chunk in stream:
                print(f"   chunk {chunk!r}")
        print(f"   -> {stream.result.attempts} attempt(s), {stream.result.duration_s:.3f} s")
        await _demo_step(supervisor, "JSON mode", "echo", "What is llminst?", json_mode=True)
        # The echo CLI counts runs per exact prompt: a fresh prompt is limited afresh.
        await _demo_step(
            supervisor,
            "rate limited twice, retried with backoff",
            "echo",
            f"[[echo:rate-limit=2]] [[echo:retry-after=0.2]] demo {uuid.uuid4().hex[:8]}",
        )
        await _demo_step(supervisor, "timeout", "echo", "[[echo:sleep=30]] slow", timeout=1)
        await _demo_step(supervisor, "unknown model", "no-such-model", "hi")
    return 0


async def _demo_step(
    supervisor: Supervisor, title: str, model: str, prompt: str, **kw: Any
) -> None:
    print(f"== {title}: {model} {prompt!r}")
    try:
        result: CallResult = await supervisor.run(model, prompt, **kw)
    except LLMError as exc:
        print(f"   -> {exc.kind}: {exc}")
        return
    shown = result.parsed_json if result.parsed_json is not None else result.output
    print(
        f"   -> {shown!r} ({result.attempts} attempt(s), {result.duration_s:.3f} s, "
        f"timeout {result.timeout_s:g} s [{result.timeout_category}])"
    )


if __name__ == "__main__":
    sys.exit(main())
