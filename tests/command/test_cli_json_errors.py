"""`llminst run --json` failures: the message names what the terminal user has, not attributes.

Regression (issue 10): the CLI printed the library's wording ("check raw_output", "candidate"),
fields a terminal user never sees, and with --json the model's output was shown nowhere.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ..support.config import write_config
from ..support.paths import FAKECLI, LLMINST


@pytest.mark.parametrize(
    ("answer", "kind"),
    [("no JSON here", "json_not_found"), ('{"question": 1}', "json_schema_mismatch")],
)
def test_run_json_failure_prints_the_raw_output_on_stderr(
    tmp_path: Path, answer: str, kind: str
) -> None:
    """stdout stays empty (it carries only the answer); stderr says the raw output follows."""
    fake = {"command": [sys.executable, FAKECLI, "say", answer]}
    config = write_config(tmp_path / "llminst.toml", models={"fake": fake})
    argv = [*LLMINST, "--config", str(config), "--log-level", "error"]
    result = subprocess.run(
        [*argv, "run", "fake", "--json", "q"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and result.stdout == ""
    message, _, block = result.stderr.strip().partition("\n--- raw output ---\n")
    assert message.startswith(f"llminst: {kind}: "), result.stderr
    assert message.endswith("; the raw output follows"), result.stderr
    assert "raw_output" not in message and "candidate" not in message
    assert block == answer
