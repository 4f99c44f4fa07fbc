"""`llminst run` with fallbacks, as a user runs it: a real process, a real config file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..support.config import write_config
from ..support.paths import LLMINST


def llminst(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLMINST_CONFIG": str(config)}
    return subprocess.run(
        [*LLMINST, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_a_configured_fallback_answers_and_stderr_says_why(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "config.toml",
        models={"ghost": {"command": ["llminst-no-such-cli"], "fallbacks": ["echo"]}},
    )
    done = llminst(config, "run", "ghost", "hello")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello\n"
    assert "[llminst] ghost: cli_not_found; falling back to echo" in done.stderr


def test_fallback_flags_replace_the_configured_ones_in_order(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "config.toml",
        models={
            "ghost": {"command": ["llminst-no-such-cli"], "fallbacks": ["ghost2"]},
            "ghost2": {"command": ["llminst-no-such-cli-2"]},
        },
    )
    done = llminst(config, "run", "ghost", "hi", "--fallback", "ghost2", "--fallback", "echo")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hi\n"
    assert "ghost: cli_not_found; falling back to ghost2" in done.stderr
    assert "ghost2: cli_not_found; falling back to echo" in done.stderr
    none_left = llminst(config, "run", "ghost", "hi", "--fallback", "nope")
    assert none_left.returncode != 0 and none_left.stdout == ""
    assert "unknown_model: fallback of model 'ghost': unknown model 'nope'" in none_left.stderr
    assert "Traceback" not in none_left.stderr


def test_a_wrong_fallback_on_names_its_key_and_the_valid_kinds(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "config.toml",
        models={"echo": {"fallback_on": ["timout"], "account": "mine"}},
    )
    done = llminst(config, "run", "echo", "hi")
    assert done.returncode != 0 and done.stdout == ""
    assert "models.echo.fallback_on" in done.stderr
    assert "unknown error kind(s) 'timout'; valid kinds: rate_limited," in done.stderr
    assert "Traceback" not in done.stderr
