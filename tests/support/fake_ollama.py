"""A stand-in for the `ollama` executable: the real binary cannot be installed here.

No registry this project can reach serves ollama (it is a Go binary from ollama.com), so the
tests put this script on PATH as ``ollama`` (see `install_fake_ollama`) and check that llminst's
``llama`` model drives it the way it would drive the real one. It copies the real CLI's surface
as far as llminst uses it:

- ``ollama run MODEL [PROMPT ...]``: the answer streams to stdout word by word, then a blank
  line; without a PROMPT the prompt is read from stdin (what the real CLI does when stdin is not
  a terminal); the words of several PROMPT arguments are joined with spaces, as ollama does;
- ``ollama --version`` / ``-v``: ``ollama version is 0.12.6``; when the server is down, the real
  CLI's two warnings (``Warning: could not connect to a running Ollama instance`` and
  ``Warning: client version is 0.12.6``) instead;
- the real error messages, on stderr with exit code 1:
  ``Error: could not connect to ollama app, is it running?`` (when ``FAKE_OLLAMA_DOWN=1``) and
  ``Error: model 'X' not found, try pulling it first`` (a model not in ``FAKE_OLLAMA_MODELS``,
  default ``llama2,llama3``; ``NAME`` and ``NAME:latest`` are the same model).

The answer is ``Echo: <prompt>``; llminst's JSON instructions in the prompt get a JSON value
filling the schema; ``[[ollama:slow=SECONDS]]`` in the prompt waits SECONDS before each word.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import time
from pathlib import Path

VERSION = "0.12.6"
DEFAULT_MODELS = "llama2,llama3"
_SLOW = re.compile(r"\[\[ollama:slow=([0-9.]+)\]\]")
_HERE = Path(__file__).resolve()


def install_fake_ollama(bin_dir: Path) -> Path:
    """Write an ``ollama`` executable into `bin_dir` that runs this script; return its path."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    target = bin_dir / "ollama"
    target.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{_HERE}" "$@"\n')
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return target


def _known(model: str) -> bool:
    names = os.environ.get("FAKE_OLLAMA_MODELS", DEFAULT_MODELS).split(",")
    known = {n.strip().removesuffix(":latest") for n in names if n.strip()}
    return model.removesuffix(":latest") in known


def _down() -> bool:
    return os.environ.get("FAKE_OLLAMA_DOWN") == "1"


def _answer(prompt: str) -> str:
    sys.path.insert(0, str(_HERE.parents[1] / "realcli"))
    from sse import fill_schema  # stdlib only

    from llminst._core.jsonmode import schema_from_prompt

    schema = schema_from_prompt(prompt)
    if schema is not None:
        return json.dumps(fill_schema(schema, text="fake answer"))
    return f"Echo: {prompt}"


def _fail(message: str) -> int:
    print(f"Error: {message}", file=sys.stderr, flush=True)
    return 1


def _version() -> int:
    if _down():
        print("Warning: could not connect to a running Ollama instance")
        print(f"Warning: client version is {VERSION}")
    else:
        print(f"ollama version is {VERSION}")
    return 0


def _run(args: list[str]) -> int:
    if not args:
        return _fail("accepts at least 1 arg(s), received 0")
    model, words = args[0], args[1:]
    if _down():
        return _fail("could not connect to ollama app, is it running?")
    if not _known(model):
        return _fail(f"model '{model}' not found, try pulling it first")
    prompt = " ".join(words) if words else sys.stdin.read()
    if not prompt.strip():
        return 0  # the real CLI loads the model and exits when there is nothing to ask
    match = _SLOW.search(prompt)
    delay = float(match.group(1)) if match else 0.0
    out = sys.stdout
    for piece in re.findall(r"\S+\s*|\s+", _answer(prompt)):
        if delay:
            time.sleep(delay)
        out.write(piece)
        out.flush()
    out.write("\n\n")
    out.flush()
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print("Usage:\n  ollama [flags]\n  ollama [command]\n\nAvailable Commands:\n  run ...")
        return 0
    if argv[0] in ("-v", "--version"):
        return _version()
    if argv[0] == "run":
        return _run(argv[1:])
    return _fail(f'unknown command "{argv[0]}" for "ollama"')


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
