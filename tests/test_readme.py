"""README.md says what the code does: the generated tables, `llminst models`, the config examples.

The Models table and the table of what each CLI may do are rendered from the built-in specs
(tests/support/readme.py; ``python -m tests.support.readme`` rewrites them). These tests fail when
the README's copy is stale, when `llminst models` prints something other than what runs, and when
a TOML example in the README is not a valid config or stops doing what the text around it says.
The realcli side (the examples run against the real CLIs) is tests/clis/test_readme_profiles.py.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from llminst import BUILTIN_MODELS
from llminst._core.command import PROMPT_STAND_IN, STDIN_NOTE, build_invocation
from llminst._core.spec import ModelSpec, OutputFormat
from llminst._core.userconfig import parse_config

from .support import readme
from .support.paths import LLMINST
from .support.readme import PERMISSIONS, README, granted

README_TEXT = README.read_text()
SAFETY = "What the CLIs may do"
LOCAL = "claude with a small local model"


def _table_rows(text: str) -> dict[str, list[str]]:
    """A markdown table's rows by their first cell (the model name, without backticks)."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if cells and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells
    return rows


def _block(name: str) -> str:
    begin, end = readme.markers(name)
    return README_TEXT[README_TEXT.index(begin) + len(begin) : README_TEXT.index(end)]


# --- the generated blocks -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(readme.BLOCKS))
def test_generated_block_matches_the_built_in_specs(name: str) -> None:
    """README's block is exactly what tests/support/readme.py renders from BUILTIN_MODELS."""
    assert readme.replace_block(README_TEXT, name, readme.BLOCKS[name]()) == README_TEXT, (
        f"README.md's {name} block is stale: run `python -m tests.support.readme`"
    )


def test_replace_block_rewrites_only_between_the_markers(tmp_path: Path) -> None:
    """The generator touches nothing outside the markers and refuses a README without them."""
    begin, end = readme.markers("models")
    text = f"before\n{begin}\nold\n{end}\nafter\n"
    assert readme.replace_block(text, "models", "new") == f"before\n{begin}\nnew\n{end}\nafter\n"
    with pytest.raises(ValueError, match="models:begin"):
        readme.replace_block("no markers\n", "models", "new")
    stale = tmp_path / "README.md"
    stale.write_text(
        f"{text}{readme.markers('permissions')[0]}\n{readme.markers('permissions')[1]}\n"
    )
    assert readme.main(["--check", "--readme", str(stale)]) == 1
    assert readme.main(["--readme", str(stale)]) == 0
    assert readme.main(["--check", "--readme", str(stale)]) == 0
    assert stale.read_text().startswith("before\n") and "\nafter\n" in stale.read_text()


def test_models_table_shows_the_argv_each_built_in_runs() -> None:
    """Each Models row's command is the argv build_invocation makes (default sub-model, `--`,
    `{prompt}` resolved), which the old hand-written table got wrong for gpt-4, llama and llm."""
    rows = _table_rows(_block("models"))
    assert set(rows) == set(BUILTIN_MODELS)
    for name, spec in BUILTIN_MODELS.items():
        shown = rows[name][1]
        stdin = shown.endswith(STDIN_NOTE)
        argv = shlex.split(shown.removesuffix(STDIN_NOTE).strip("`"))
        invocation = build_invocation(spec, PROMPT_STAND_IN, base_env={})
        expected = list(invocation.argv)
        if spec.executable == sys.executable:
            expected[0] = "python"
        assert argv == expected, name
        assert stdin == (invocation.stdin is not None), name
    assert "-m gpt-4" in rows["gpt-4"][1] and "{prompt}" not in rows["gpt-4"][1]
    assert rows["llama"][1] == "`ollama run llama2 PROMPT`"
    assert rows["llm"][1] == "`llm prompt --no-log -- PROMPT`"


def test_llminst_models_prints_the_command_llminst_runs() -> None:
    """`llminst models` prints each model's real command line, as the README's table does."""
    done = subprocess.run(
        [*LLMINST, "models"],
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


def test_permissions_table_names_every_permission_flag_a_built_in_passes() -> None:
    """Each row's flags are exactly those of the built-in spec's argv and environment that any
    CLI's PERMISSIONS entry knows: none left out, none that the spec does not pass."""
    rows = _table_rows(_block("permissions"))
    assert set(rows) == set(BUILTIN_MODELS)
    known = {grant for entry in PERMISSIONS.values() for grant in entry.grants}
    for name, spec in BUILTIN_MODELS.items():
        listed = set(re.findall(r"`([^`]+)`", rows[name][1]))
        argv = " ".join(spec.command)
        env = {f"{k}={v}" for k, v in spec.env.items()}
        passed = {g for g in known if f" {g} " in f" {argv} " or g in env}
        assert listed == passed, name
    assert "--dangerously-skip-permissions" in rows["claude"][1]
    assert {"--yolo", "GEMINI_CLI_TRUST_WORKSPACE=true"} <= set(
        re.findall(r"`([^`]+)`", rows["gemini"][1])
    )
    assert rows["codex"][1] == "no permission flags" and "read-only sandbox" in rows["codex"][2]


def test_permissions_table_refuses_to_guess() -> None:
    """A built-in without an entry, or one that stops passing its grants while its entry says
    nothing about that case, makes the renderer fail instead of printing a stale claim."""
    unknown = {"mine": attrs.evolve(BUILTIN_MODELS["echo"], name="mine")}
    with pytest.raises(ValueError, match="no PERMISSIONS entry"):
        readme.permissions_block(unknown)
    claude = BUILTIN_MODELS["claude"]
    tame = attrs.evolve(
        claude, command=tuple(a for a in claude.command if a != "--dangerously-skip-permissions")
    )
    with pytest.raises(ValueError, match="say what the CLI may do"):
        readme.permissions_block({"claude": tame})


def test_granted_finds_flags_with_their_values() -> None:
    """A two-word grant matches as neighbours or as --flag=value, not as two stray words."""
    codex = PERMISSIONS["codex"]
    base = BUILTIN_MODELS["codex"]
    spaced = attrs.evolve(base, command=("codex", "exec", "--sandbox", "danger-full-access"))
    joined = attrs.evolve(base, command=("codex", "exec", "--sandbox=danger-full-access"))
    apart = attrs.evolve(base, command=("codex", "--sandbox", "read-only", "danger-full-access"))
    assert granted(spaced, codex) == granted(joined, codex) == ["--sandbox danger-full-access"]
    assert granted(apart, codex) == []


# --- the config examples --------------------------------------------------------------------


def test_every_toml_example_in_the_readme_is_a_valid_config() -> None:
    """Each ```toml block parses as a config file (strict: unknown keys and wrong types fail)."""
    blocks = readme.toml_blocks(README_TEXT)
    assert len(blocks) >= 3
    for block in blocks:
        parse_config(block, source="README.md")


def test_read_only_profiles_pass_no_grant_and_name_their_restriction() -> None:
    """The read-only examples drop every permission grant (but gemini's trust, without which
    headless gemini does not run) and say read-only in each CLI's own terms."""
    config = readme.readme_config(SAFETY)
    assert set(config.models) == {"claude", "gemini", "codex"}
    kept = {"gemini": ["GEMINI_CLI_TRUST_WORKSPACE=true"]}
    for name, spec in config.models.items():
        assert granted(spec, PERMISSIONS[name]) == kept.get(name, []), name
        base = BUILTIN_MODELS[name]
        assert (spec.output_format, spec.prompt_mode) == (base.output_format, base.prompt_mode)
    claude = " ".join(config.models["claude"].command)
    assert "--tools Read,Grep,Glob --permission-mode dontAsk" in claude
    assert config.models["claude"].cwd
    assert "--approval-mode default" in " ".join(config.models["gemini"].command)
    assert "--sandbox read-only" in " ".join(config.models["codex"].command)


def test_claude_local_profile_is_a_plain_chat_client() -> None:
    """The local-model example: --bare, no tools, its own system prompt, the server in env."""
    spec = readme.readme_config(LOCAL).models["claude-local"]
    argv = list(build_invocation(spec, "hi", base_env={}).argv)
    assert argv[argv.index("--tools") + 1] == ""
    assert {"--bare", "--disable-slash-commands", "--system-prompt"} <= set(argv)
    assert "--dangerously-skip-permissions" not in argv
    assert argv[argv.index("--model") + 1] == spec.default_submodel
    assert argv[-2:] == ["--", "hi"]
    assert spec.output_format is OutputFormat.CLAUDE_STREAM_JSON
    assert spec.env["ANTHROPIC_BASE_URL"].startswith("http://127.0.0.1:")
    assert spec.env["ANTHROPIC_API_KEY"]


def test_all_keys_lists_every_model_key_and_output_format() -> None:
    """The section "Adding or changing a model" names every key a model table may set, and every format."""
    section_text = readme.section(README_TEXT, "Adding or changing a model")
    keys = {field.name for field in attrs.fields(ModelSpec)} - {"name"}
    named = set(re.findall(r"`([a-z_]+)`", section_text[section_text.index("All keys:") :]))
    assert keys <= named, sorted(keys - named)
    assert all(f"`{fmt.value}`" in section_text for fmt in OutputFormat)
