"""Model status, the pure part (llminst._core.status and the specs): version parsing, which
version command a model has, and the status table laid out for any width."""

from __future__ import annotations

import pytest

from llminst import ModelSpec
from llminst._core.builtins import BUILTIN_MODELS
from llminst._core.status import (
    NOT_CONFIGURED,
    NOT_INSTALLED,
    ModelStatus,
    describe_model,
    parse_version,
    render_status_table,
)
from llminst._core.userconfig import parse_config

from ..support.status import LONG_HINT, credentials_column, hint_column, same_text

GEMINI_PATH = "/opt/a/rather/long/folder/for/the/gemini/executable/bin/gemini"


def test_parse_version() -> None:
    """The first version-looking token is the version; otherwise the first line."""
    assert parse_version("2.1.197 (Claude Code)\n") == "2.1.197"
    assert parse_version("llm, version 0.36\n") == "0.36"
    assert parse_version("openai 1.109.1") == "1.109.1"
    assert parse_version("weird build\nmore") == "weird build"
    assert parse_version("") is None


def test_version_commands_are_configured_or_built_in() -> None:
    """Built-in CLIs read `EXE --version`, also when a config points them elsewhere; a model
    added in a config file has no version command unless it sets one."""
    config = parse_config(
        '[models.claude]\ncommand = ["/opt/claude/bin/claude", "-p"]\n'
        '[models.mine]\ncommand = ["mycli"]\n'
        '[models.versioned]\ncommand = ["mycli"]\nversion_command = ["mycli", "-V"]\n'
        "[models.gemini]\nversion_command = []\n",
        source="test.toml",
    )
    assert BUILTIN_MODELS["codex"].version_argv == ("codex", "--version")
    assert config.models["claude"].version_argv == ("/opt/claude/bin/claude", "--version")
    assert config.models["mine"].version_argv == ()
    assert config.models["versioned"].version_argv == ("mycli", "-V")
    assert config.models["gemini"].version_argv == ()
    assert ModelSpec(name="x", command=("x",)).version_argv == ()


def statuses_with_long_cells() -> list[ModelStatus]:
    """A 400-character hint, a 61-character path and three credential names set."""
    gemini = BUILTIN_MODELS["gemini"]
    return [
        describe_model(
            ModelSpec(name="vendor", command=("vendor",), install_hint=LONG_HINT),
            executable_path=None,
            version=NOT_INSTALLED,
            env={},
            max_concurrency=1,
            running=0,
        ),
        describe_model(
            gemini,
            executable_path=GEMINI_PATH,
            version=NOT_CONFIGURED,
            env=dict.fromkeys(gemini.credential_env, "x"),
            max_concurrency=4,
            running=0,
        ),
    ]


@pytest.mark.parametrize("width", [120, 100, 80, 72])
def test_status_table_wraps_long_cells_to_the_width(width: int) -> None:
    """The hint, the path and the credential names wrap under their columns: every line fits
    and no word is lost."""
    lines = render_status_table(statuses_with_long_cells(), width=width)
    assert max(len(line) for line in lines) <= width, "\n".join(lines)
    assert len(LONG_HINT) > 300
    hint, rows = hint_column(lines, "vendor")
    assert same_text(hint, f"'vendor' not found: {LONG_HINT}") and len(rows) > 1
    path, _ = hint_column(lines, "gemini")
    assert same_text(path, GEMINI_PATH)
    credentials = credentials_column(lines, "gemini")
    assert same_text(credentials, ", ".join(BUILTIN_MODELS["gemini"].credential_env))
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == ["version:"])
    note = " ".join(line[lines[0].index("HINT / PATH") :].strip() for line in lines[at:])
    assert same_text(note, NOT_CONFIGURED.note or "")


def test_a_terminal_too_narrow_for_the_table_gets_a_block_per_model() -> None:
    """40 columns: each model is a block of labelled lines, every line fits, nothing is lost."""
    lines = render_status_table(statuses_with_long_cells(), width=40)
    assert max(len(line) for line in lines) <= 40, "\n".join(lines)
    text = " ".join(line.strip() for line in lines)
    assert lines[0].startswith("vendor: ready no, version -, normal")
    assert same_text(
        text.split("hint / path:")[1].split("gemini:")[0], f"'vendor' not found: {LONG_HINT}"
    )
    assert same_text(text.split("hint / path:")[2].split("version:")[0], GEMINI_PATH)
