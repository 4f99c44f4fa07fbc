"""`llminst run` when the CLI fails after streaming part of an answer: stdout keeps only the
answer, the error goes to stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..support.config import write_config
from ..support.paths import FAKECLI, LLMINST
from ..support.scripts import STREAMED, claude_failing_after_streaming


def test_llminst_run_prints_only_the_answer_on_stdout(tmp_path: Path) -> None:
    """Regression: `llminst run` printed `...in 2025 days andPrompt is too long` on stdout."""
    script = claude_failing_after_streaming(tmp_path)
    fake = {
        "command": [sys.executable, FAKECLI, "script", script],
        "output_format": "claude-stream-json",
    }
    config = write_config(tmp_path / "llminst.toml", models={"fake": fake})
    done = subprocess.run(
        [*LLMINST, "--config", str(config), "run", "fake", "hi"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == "".join(STREAMED)
    assert (
        "llminst: process_failed: model 'fake': the CLI reported a failure with exit code 1; "
        "the CLI's result line says: Prompt is too long"
    ) in done.stderr
