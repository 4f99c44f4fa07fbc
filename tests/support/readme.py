"""README.md's generated blocks, rendered from the built-in model specs.

Two tables in README.md are not typed by hand: the Models table (the command llminst runs for
each built-in model, as `llminst models` prints it) and the table of "What the CLIs may do" (the
permission flags each built-in passes, what they let the CLI do, where it runs). Both are
rendered here from `BUILTIN_MODELS` and `command_line`, so they cannot drift from the code;
tests/test_readme.py fails when README.md's copy differs from the rendering.

    python -m tests.support.readme            # rewrite the blocks in README.md
    python -m tests.support.readme --check    # exit 1 naming the stale blocks

This lives with the tests rather than in the package: README.md exists only in a checkout, and
its test is this module's other user. It never changes anything outside the marked blocks.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from llminst import BUILTIN_MODELS, ModelSpec
from llminst._core.command import PROMPT_STAND_IN, STDIN_NOTE, command_line
from llminst._core.userconfig import UserConfig, parse_config

__all__ = [
    "BLOCKS",
    "PERMISSIONS",
    "README",
    "CliPermissions",
    "granted",
    "markers",
    "models_block",
    "permissions_block",
    "readme_config",
    "replace_block",
    "section",
    "toml_blocks",
]

README = Path(__file__).resolve().parents[2] / "README.md"
GENERATOR = "python -m tests.support.readme"


@dataclass(frozen=True)
class CliPermissions:
    """What one CLI may do without asking, by the settings llminst passes it.

    Attributes:
        grants: a flag (``--yolo``; ``--sandbox danger-full-access`` for a flag and its value)
            or an environment setting (``NAME=value``) -> what it lets the CLI do. The flags
            are checked against each installed CLI's ``--help`` (tests/clis/test_readme_profiles.py).
        otherwise: what the CLI may do when llminst passes none of `grants`; None where no
            built-in model does that (rendering such a model is then an error, not a guess).
    """

    grants: Mapping[str, str]
    otherwise: str | None = None


ANSWER_ONLY = "nothing but answer: the model gets the prompt and no tools"

# Keyed by built-in model name. The claude, gemini and codex texts are what
# tests/clis/test_readme_profiles.py observes the installed CLIs do with exactly these settings (the
# tools offered to the model, the sandbox reported to it, the commands run when it asks).
PERMISSIONS: Mapping[str, CliPermissions] = {
    "echo": CliPermissions({}, otherwise="nothing but print the prompt back (a test stand-in)"),
    "claude": CliPermissions(
        {
            "--dangerously-skip-permissions": (
                "use every tool it offers its model (Bash, Edit, Write, Agent, ...): run any "
                "shell command, create, edit and delete files, start sub-agents"
            ),
        }
    ),
    "gemini": CliPermissions(
        {
            "--yolo": (
                "use every tool (YOLO mode): run shell commands, write and edit files, fetch "
                "web pages"
            ),
            "GEMINI_CLI_TRUST_WORKSPACE=true": (
                "treat the working directory as trusted (headless gemini refuses to run in an "
                "untrusted one), so that folder's own `.gemini/settings.json` and `.env` are loaded"
            ),
        }
    ),
    "codex": CliPermissions(
        {
            "--dangerously-bypass-approvals-and-sandbox": (
                "run any command without a sandbox and without asking"
            ),
            "--sandbox danger-full-access": "run commands without a sandbox",
            "--sandbox workspace-write": "run commands that write inside the working directory",
        },
        otherwise=(
            "run shell commands inside codex's read-only sandbox (reads files; no writes, no "
            "network), never asking: `codex exec`'s defaults, unless `~/.codex/config.toml` "
            "sets `sandbox_mode` or `approval_policy`"
        ),
    ),
    "gpt-4": CliPermissions({}, otherwise=ANSWER_ONLY),
    "llm": CliPermissions(
        {"--functions": "run the Python functions given", "-T": "call the tools named"},
        otherwise=f"{ANSWER_ONLY} (llm offers tools only with `-T`/`--functions`)",
    ),
    "llama": CliPermissions({}, otherwise=f"{ANSWER_ONLY} (`ollama run` has none)"),
}


def granted(spec: ModelSpec, permissions: CliPermissions) -> list[str]:
    """The grants llminst passes `spec`'s CLI on a plain call: flags in its argv (a flag and
    its value as neighbours, or ``--flag=value``) and settings in its environment."""
    argv = list(spec.command)
    env = {f"{name}={value}" for name, value in spec.env.items()}
    found: list[str] = []
    for grant in permissions.grants:
        words = grant.split(" ")
        in_argv = any(argv[i : i + len(words)] == words for i in range(len(argv)))
        if in_argv or "=".join(words) in argv or grant in env:
            found.append(grant)
    return found


def _shown_command(spec: ModelSpec) -> str:
    """`command_line` in backticks, the interpreter's path shown as ``python`` (it differs on
    every machine) and the stdin note outside the code."""
    line = command_line(spec)
    if spec.executable == sys.executable:
        line = "python" + line.removeprefix(sys.executable)
    if line.endswith(STDIN_NOTE):
        return f"`{line.removesuffix(STDIN_NOTE)}`{STDIN_NOTE}"
    return f"`{line}`"


def _submodel_text(spec: ModelSpec) -> str:
    if not spec.submodel_args:
        return "—"
    chosen = " ".join(part.replace("{submodel}", "NAME") for part in spec.submodel_args)
    if spec.default_submodel is None:
        return f"`{spec.name}:NAME` adds `{chosen}`"
    default = " ".join(
        part.replace("{submodel}", spec.default_submodel) for part in spec.submodel_args
    )
    return f"`{spec.name}:NAME` runs `{chosen}` instead of `{default}`"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def models_block(models: Mapping[str, ModelSpec] = BUILTIN_MODELS) -> str:
    """The Models table: each built-in's command line, streaming flags, sub-models, install."""
    lines = [
        f"| model | command (`{PROMPT_STAND_IN}` is the prompt) | streaming adds | sub-model "
        "| install |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, spec in models.items():
        stream = " ".join(spec.stream_args)
        lines.append(
            _row(
                [
                    f"`{name}`",
                    _shown_command(spec),
                    f"`{stream}`" if stream else "—",
                    _submodel_text(spec),
                    spec.install_hint or "ships with llminst",
                ]
            )
        )
    return "\n".join(lines)


def permissions_block(
    models: Mapping[str, ModelSpec] = BUILTIN_MODELS,
    permissions: Mapping[str, CliPermissions] = PERMISSIONS,
) -> str:
    """The table of what each built-in CLI may do: the grants passed, their effect, the folder.

    Raises:
        ValueError: a built-in has no `PERMISSIONS` entry, or passes none of its grants where
            the entry has no `otherwise` text (the table would have to guess).
    """
    lines = [
        "| model | llminst passes | so the CLI may, without asking | working directory |",
        "| --- | --- | --- | --- |",
    ]
    for name, spec in models.items():
        if name not in permissions:
            raise ValueError(f"model {name!r} has no PERMISSIONS entry in {__name__}; add one")
        entry = permissions[name]
        passed = granted(spec, entry)
        if not passed and entry.otherwise is None:
            raise ValueError(
                f"model {name!r} passes none of its grants and PERMISSIONS[{name!r}] has no "
                "`otherwise` text: say what the CLI may do now"
            )
        effect = "; ".join(entry.grants[g] for g in passed) if passed else entry.otherwise
        cwd = f"`{spec.cwd}`" if spec.cwd else "the server's"
        flags = ", ".join(f"`{g}`" for g in passed) if passed else "no permission flags"
        lines.append(_row([f"`{name}`", flags, str(effect), cwd]))
    return "\n".join(lines)


BLOCKS: Mapping[str, Callable[[], str]] = {
    "models": models_block,
    "permissions": permissions_block,
}


def markers(name: str) -> tuple[str, str]:
    """The lines that open and close block `name` in README.md."""
    return (
        f"<!-- {name}:begin (generated by {GENERATOR}; do not edit) -->",
        f"<!-- {name}:end -->",
    )


def replace_block(text: str, name: str, content: str) -> str:
    """`text` with block `name`'s lines between its markers replaced by `content`.

    Raises:
        ValueError: the markers are missing or out of order.
    """
    begin, end = markers(name)
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"README.md: add the lines {begin!r} and {end!r} where {name} goes")
    return text[: start + len(begin)] + "\n" + content + "\n" + text[stop:]


def rendered(text: str) -> str:
    """`text` with every generated block brought up to date."""
    for name, render in BLOCKS.items():
        text = replace_block(text, name, render())
    return text


def section(text: str, title: str) -> str:
    """The part of `text` under the heading `title` (any level), up to the next heading of the
    same or a higher level (``#`` lines inside code blocks are not headings).

    Raises:
        ValueError: there is no such heading.
    """
    lines = text.splitlines(keepends=True)
    start: int | None = None
    level = 0
    in_code = False
    for index, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        heading = None if in_code else re.match(r"(#+) (.*)", line.rstrip("\n"))
        if heading is None:
            continue
        if start is None and heading.group(2) == title:
            start, level = index + 1, len(heading.group(1))
        elif start is not None and len(heading.group(1)) <= level:
            return "".join(lines[start:index])
    if start is None:
        raise ValueError(f"README.md has no heading {title!r}")
    return "".join(lines[start:])


def toml_blocks(text: str) -> list[str]:
    """Every TOML code block in `text`, dedented (blocks inside list items are indented)."""
    blocks = re.findall(r"^([ \t]*)```toml\n(.*?)^[ \t]*```$", text, re.MULTILINE | re.DOTALL)
    return [textwrap.dedent(body) for _indent, body in blocks]


def readme_config(title: str, text: str | None = None) -> UserConfig:
    """The one TOML example under README.md's heading `title`, parsed like a config file."""
    blocks = toml_blocks(section(README.read_text() if text is None else text, title))
    if len(blocks) != 1:
        raise ValueError(f"README.md: {title!r} has {len(blocks)} TOML examples, expected one")
    return parse_config(blocks[0], source=f"README.md ({title})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=GENERATOR, description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale blocks")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    stale = [n for n, render in BLOCKS.items() if replace_block(text, n, render()) != text]
    if args.check:
        for name in stale:
            print(f"{args.readme}: the {name} block is stale; run {GENERATOR}", file=sys.stderr)
        return 1 if stale else 0
    args.readme.write_text(rendered(text))
    print(f"{args.readme}: rewrote {', '.join(stale) or 'nothing (up to date)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
