"""`llminst models` prints what llminst runs: each model's argv as build_invocation makes it."""

from __future__ import annotations

import shlex
import subprocess
import sys

from llminst import BUILTIN_MODELS
from llminst._core.command import PROMPT_STAND_IN, STDIN_NOTE, build_invocation


def test_llminst_models_prints_the_command_llminst_runs() -> None:
    """`llminst models` prints each model's real command line, as the README's table does."""
    done = subprocess.run(
        [sys.executable, "-m", "llminst.cli", "models"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    printed = {line.split()[0]: line.split(None, 2)[2] for line in done.stdout.splitlines()}
    for name, spec in BUILTIN_MODELS.items():
        invocation = build_invocation(spec, PROMPT_STAND_IN, base_env={})
        line = printed[name]
        assert shlex.split(line.removesuffix(STDIN_NOTE)) == list(invocation.argv), name
        assert line.endswith(STDIN_NOTE) == (invocation.stdin is not None), name
    assert printed["llama"] == "ollama run llama2 PROMPT"
    assert printed["gpt-4"] == "openai api chat.completions.create -g user PROMPT -m gpt-4"
