"""Capability probes (native JSON-schema flags) and error hints, with a tiny real CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import trio

from llminst._core.errors import ProcessFailedError
from llminst._core.spec import ModelSpec
from llminst.supervisor import Supervisor, open_supervisor

CLI = r"""
import json, os, sys
args = sys.argv[1:]
if "--help" in args:
    with open(os.environ["HELP_COUNT"], "a") as f:
        f.write("x")
    print(os.environ.get("HELP_TEXT", ""))
    sys.exit(0)
if os.environ.get("FAIL_WITH"):
    print(os.environ["FAIL_WITH"], file=sys.stderr)
    sys.exit(1)
schema = args[args.index("--json-schema") + 1] if "--json-schema" in args else None
prompt = args[-1]
print(json.dumps({"native": schema is not None, "instructions": "<json_schema>" in prompt}))
"""


def spec_for(tmp_path: Path, **env: str) -> ModelSpec:
    script = tmp_path / "cli.py"
    script.write_text(CLI)
    return ModelSpec(
        name="cap",
        command=(sys.executable, str(script)),
        version_command=(sys.executable, str(script), "--version"),
        json_schema_args=("--json-schema", "{schema}"),
        env={"HELP_COUNT": str(tmp_path / "help-count"), **env},
        error_hints={r"cannot be used with root": "set SANDBOX=1 for the model"},
    )


@pytest.mark.parametrize(
    ("help_text", "native"),
    [("  --json-schema <schema>  JSON Schema", True), ("  --json-schema-file <f>", False)],
)
async def test_native_schema_flag_is_used_only_when_help_lists_it(
    tmp_path: Path, help_text: str, native: bool
) -> None:
    """--help listing the flag: schema in argv, no instructions; otherwise the prompt has it."""
    spec = spec_for(tmp_path, HELP_TEXT=help_text)
    async with open_supervisor(models={"cap": spec}) as supervisor:
        first = await supervisor.run("cap", "q", json_schema='{"type": "object"}')
        second = await supervisor.run("cap", "q", json_schema='{"type": "object"}')
    assert first.parsed_json == {"native": native, "instructions": not native}
    assert second.parsed_json == first.parsed_json
    assert (tmp_path / "help-count").read_text() == "x"  # --help ran once, then cached


async def test_concurrent_first_calls_share_one_help_run(tmp_path: Path) -> None:
    """Several JSON calls arriving together before the help text is known run --help once."""
    spec = spec_for(tmp_path, HELP_TEXT="  --json-schema <schema>")
    results = []

    async def call(supervisor: Supervisor) -> None:
        results.append(await supervisor.run("cap", "q", json_schema='{"type": "object"}'))

    async with open_supervisor(models={"cap": spec}) as supervisor, trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(call, supervisor)
    assert [r.parsed_json for r in results] == [{"native": True, "instructions": False}] * 4
    assert (tmp_path / "help-count").read_text() == "x"


async def test_plain_calls_never_probe(tmp_path: Path) -> None:
    """Only JSON mode asks the CLI for its --help."""
    spec = spec_for(tmp_path, HELP_TEXT="--json-schema")
    async with open_supervisor(models={"cap": spec}) as supervisor:
        await supervisor.run("cap", "q")
    assert not (tmp_path / "help-count").exists()


async def test_error_hint_names_the_line_and_the_fix(tmp_path: Path) -> None:
    """A failure matching an error hint is reported with the CLI's line and the fix."""
    spec = spec_for(tmp_path, FAIL_WITH="--danger cannot be used with root/sudo privileges")
    async with open_supervisor(models={"cap": spec}) as supervisor:
        with pytest.raises(ProcessFailedError) as info:
            await supervisor.run("cap", "q")
    message = str(info.value)
    assert "--danger cannot be used with root/sudo privileges" in message
    assert message.endswith("Fix: set SANDBOX=1 for the model.")
    assert info.value.exit_code == 1
