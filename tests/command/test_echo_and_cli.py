"""The echo stand-in CLI and the `llminst` command, run as real processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llminst._core.jsonmode import apply_json_mode
from llminst._core.schemas import DEFAULT_SCHEMA

from ..support.config import write_config
from ..support.paths import LLMINST

ECHO = [sys.executable, "-m", "llminst.echo"]


def run(argv: list[str], **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)


def test_echo_answers_with_the_prompt_from_argv_or_stdin() -> None:
    """echo prints its prompt byte for byte, from the argument or from stdin."""
    assert run([*ECHO, "--", "-v 'quoted' $(x)\n"]).stdout == "-v 'quoted' $(x)\n"
    assert run(ECHO, input="from stdin").stdout == "from stdin"


def test_echo_streams_in_word_chunks() -> None:
    """--stream writes the same text, word by word."""
    out = run([*ECHO, "--stream", "--", "[[echo:delay=0]] a b c"]).stdout
    assert out == "a b c"


@pytest.mark.parametrize("stream", [[], ["--stream"]], ids=["plain", "stream"])
def test_echo_leaves_its_directives_out_of_the_answer(stream: list[str]) -> None:
    """Regression: [[echo:...]] directives leaked into the answer (and so into partial output).

    Each directive goes, with the blanks after it; the rest stays byte for byte.
    """
    prompt = "[[echo:delay=0]] [[echo:stderr=note]]\tkeep  this [[echo:sleep=0]]text\n"
    done = run([*ECHO, *stream, "--", prompt])
    assert done.returncode == 0 and done.stdout == "keep  this text\n"
    assert done.stderr == "note\n"


def test_echo_json_mode_ignores_directives() -> None:
    """Directives still act in JSON mode, and stay out of the JSON answer."""
    prompt = apply_json_mode("[[echo:sleep=0]] What is 2+2?", DEFAULT_SCHEMA)
    answer = json.loads(run([*ECHO, "--", prompt]).stdout)
    assert answer == {"question": "What is 2+2?", "answer": "echo: What is 2+2?"}


def test_echo_json_mode_fills_the_schema() -> None:
    """With llminst's JSON instructions in the prompt, echo answers with schema-shaped JSON."""
    prompt = apply_json_mode("What is 2+2?", DEFAULT_SCHEMA)
    answer = json.loads(run([*ECHO, "--", prompt]).stdout)
    assert answer == {"question": "What is 2+2?", "answer": "echo: What is 2+2?"}


def test_echo_rate_limit_counts_runs_per_prompt(tmp_path: Path) -> None:
    """[[echo:rate-limit=N]] fails the first N runs of a prompt, then answers."""
    env = {**os.environ, "LLMINST_ECHO_STATE_DIR": str(tmp_path)}
    prompt = "[[echo:rate-limit=2]] [[echo:retry-after=7]] hi"
    first, second, third = (run([*ECHO, "--", prompt], env=env) for _ in range(3))
    assert first.returncode == second.returncode == 1
    assert "429" in first.stderr and "retry after 7 seconds" in first.stderr
    assert third.returncode == 0 and third.stdout == "hi"


def test_echo_exit_and_logged_out() -> None:
    """[[echo:exit=N]] exits N; LLMINST_ECHO_LOGGED_OUT=1 fails like a CLI without credentials."""
    assert run([*ECHO, "--", "[[echo:exit=7]]"]).returncode == 7
    logged_out = run([*ECHO, "--", "hi"], env={**os.environ, "LLMINST_ECHO_LOGGED_OUT": "1"})
    assert logged_out.returncode == 1 and "not logged in" in logged_out.stderr


def test_cli_run_streams_the_answer_to_stdout_and_logs_to_stderr() -> None:
    """`llminst run` prints only the answer on stdout; logs go to stderr."""
    result = run([*LLMINST, "--log-level", "info", "run", "echo", "hello"])
    assert result.returncode == 0
    assert result.stdout == "hello\n"
    assert "llminst.call.finished" in result.stderr


def test_cli_run_json() -> None:
    """`llminst run --json` prints the parsed JSON."""
    result = run([*LLMINST, "run", "echo", "--json", "Why?"])
    assert json.loads(result.stdout) == {"question": "Why?", "answer": "echo: Why?"}


def test_cli_run_errors_name_the_kind_and_exit_nonzero() -> None:
    """A failing call prints the error kind and message on stderr and exits 1."""
    result = run([*LLMINST, "run", "nope", "hi"])
    assert result.returncode == 1
    assert result.stdout == ""
    assert "unknown_model" in result.stderr and "known models" in result.stderr


def test_cli_reports_config_mistakes(tmp_path: Path) -> None:
    """A bad config file is reported with file and key, exit code 2."""
    bad = {"command": ["a"], "timeout_category": "forever"}
    config = write_config(tmp_path / "bad.toml", models={"x": bad})
    result = run([*LLMINST, "--config", str(config), "models"])
    assert result.returncode == 2
    assert str(config) in result.stderr and "models.x.timeout_category" in result.stderr


def test_cli_models_lists_config_models(tmp_path: Path) -> None:
    """Models from the config file are listed next to the built-ins."""
    config = write_config(tmp_path / "ok.toml", models={"mine": {"command": ["mycli", "--x"]}})
    result = run([*LLMINST, "models"], env={**os.environ, "LLMINST_CONFIG": str(config)})
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert {"mine", "echo", "claude"} <= set(names)


@pytest.mark.slow
def test_demo_shows_every_tool_over_stdio() -> None:
    """`llminst demo` starts the server, connects over stdio and shows each tool's outcome."""
    result = run([*LLMINST, "demo"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert (
        "== tools: execute_llm, stream_llm, get_llm_status, estimate_tokens, list_llm_sessions, "
        "start_llm, get_llm_result, cancel_llm, list_llm_calls, compare_llms, configure_llm" in out
    )
    assert "   -> Hello from llminst!" in out
    assert "progress 2: 'arrive '" in out
    assert (
        "parsed_json = {'question': 'What is llminst?', 'answer': 'echo: What is llminst?'}" in out
    )
    assert "attempts = 2, success = True" in out
    assert "ERROR timeout: model 'echo' timed out after 1 s" in out and "one two" in out
    assert "   -> still here" in out
    assert "ERROR unknown_model" in out and "ERROR process_failed" in out
    assert "CONFIGURED AT RUNTIME" in out
    assert re.search(r"progress \d+: '\[shout\] NAME ONE PRIME", out), out
    assert re.search(r"progress \d+: '\[echo\] Name", out), out
    assert re.search(r"   echo +[\d.]+ s  Name one prime number\.\n", out), out
    assert re.search(r"   shout +[\d.]+ s  NAME ONE PRIME NUMBER\.\n", out), out
    assert re.search(r"   synthesis by echo +[\d.]+ s  Below is a request, then 2 answers", out)
    assert "echo     ready    0.1.0" in out


def _run_with_terminal_stderr(argv: list[str]) -> tuple[int, bytes, bytes]:
    """Run with stderr on a pseudo-terminal (stdout a pipe); return code, stdout, stderr."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    out = proc.stdout.read() if proc.stdout else b""
    proc.wait(timeout=60)
    err = b""
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO once the child side is closed
            break
        if not data:
            break
        err += data
    os.close(master)
    return proc.returncode, out, err


def test_run_shows_a_live_status_line_only_on_a_terminal() -> None:
    """On a terminal, stderr shows model, elapsed time and bytes; stdout stays the answer."""
    code, out, err = _run_with_terminal_stderr([*LLMINST, "run", "echo", "[[echo:sleep=0.5]] hi"])
    assert code == 0
    assert out == b"hi\n"
    assert "[llminst] echo · 0.".encode() in err
    assert err.endswith(b"\r\x1b[K")  # the line is erased at the end
    piped = run([*LLMINST, "run", "echo", "[[echo:sleep=0.3]] hi"])
    assert "[llminst]" not in piped.stderr


def test_run_stops_quietly_when_the_reader_goes_away() -> None:
    """`llminst run ... | head -c 1`: the call is stopped, no traceback, no hang."""
    proc = subprocess.Popen(
        [*LLMINST, "--log-level", "debug", "run", "echo", "[[echo:delay=0.2]] a b c d e f g h"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(1) == b"a"
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=20) == 1
    assert "Traceback" not in err
    assert "llminst.process.killed" in err


def test_config_settings_reach_the_commands(tmp_path: Path) -> None:
    """Regression: [settings] in the config file were read but never applied by the CLI."""
    config = write_config(tmp_path / "settings.toml", settings={"max_output_bytes": 5})
    result = run([*LLMINST, "--config", str(config), "run", "echo", "hello world"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello\n"
