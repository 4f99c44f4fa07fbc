"""`llminst compare MODEL... -- PROMPT` as a real process: answers side by side on a wide
terminal (a real pseudo-terminal, read through pyte), one after another on a narrow one or a
pipe, the exit status, and signals (every model's tree gone, exit 128 + the signal)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pexpect
import pyte
import pytest

from ..support.config import write_config
from ..support.fanout_models import fanout_fields
from ..support.paths import LLMINST
from ..support.procs import is_alive, read_pids
from ..support.signals import (
    SIGNAL_IDS,
    SIGNALS,
    assert_cancelled,
    signal_midway,
    write_tree_config,
)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "llminst.toml", models=fanout_fields(tmp_path / "pids"))


def compare(config: Path, *words: str) -> subprocess.CompletedProcess[str]:
    argv = [*LLMINST, "--config", str(config), "compare", *words]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_piped_answers_follow_one_another_and_a_failure_exits_1(
    config: Path, tmp_path: Path
) -> None:
    """Not a terminal: each model under a "== MODEL (s)" header in the order given, the error
    where the failed model's answer would be; exit 1 because one failed; nothing left."""
    done = compare(config, "shout", "fails", "echo", "--", "hello there")
    assert done.returncode == 1, done.stderr
    sections = done.stdout.split("\n\n")
    assert [s.split(" ", 2)[1] for s in sections] == ["shout", "fails", "echo"]
    assert sections[0].startswith("== shout (") and sections[0].endswith("\nHELLO THERE")
    assert sections[1].startswith("== fails failed (")
    assert "process_failed: model 'fails': the CLI exited with code 3" in sections[1]
    assert sections[2].startswith("== echo (") and sections[2].endswith("\nhello there\n")
    assert "Traceback" not in done.stderr and "\x1b" not in done.stdout
    assert "[llminst]" not in done.stderr  # no live line off a terminal
    assert not [p for p in read_pids(tmp_path / "pids") if is_alive(p)]


def test_every_answer_and_the_synthesis_exit_0(config: Path) -> None:
    """All answered, options between the models and "--" too: exit 0, the synthesis last."""
    done = compare(config, "echo", "shout", "--synthesize", "echo", "--timeout", "60", "--", "hi")
    assert done.returncode == 0, done.stderr
    last = done.stdout.split("\n\n== ")[-1]
    assert last.startswith("synthesis by echo (")
    assert "--- Answer 1 ---\nhi\n\n--- Answer 2 ---\nHI" in last


@pytest.mark.parametrize(
    ("words", "says"),
    [
        (["echo", "nope", "--", "hi"], "llminst: unknown_model: unknown model 'nope'"),
        (["echo", "echo", "--", "hi"], "llminst: invalid_input: models: each model"),
        (["echo", "--synthesize", "nope", "--", "hi"], "llminst: unknown_model"),
        (["echo", "--bogus", "shout", "--", "hi"], "unrecognized arguments: --bogus"),
        (["echo"], "compare needs at least one model and a prompt"),
    ],
)
def test_refused_before_any_call_exits_2(
    config: Path, tmp_path: Path, words: list[str], says: str
) -> None:
    """A compare that cannot start says why on stderr, prints nothing, starts nothing: exit 2."""
    done = compare(config, *words)
    assert done.returncode == 2 and done.stdout == ""
    assert says in done.stderr and "Traceback" not in done.stderr
    assert read_pids(tmp_path / "pids") == []


def _terminal_run(config: Path, columns: int, *words: str) -> tuple[list[str], bytes, int]:
    """`llminst compare` on a real pseudo-terminal `columns` wide: the screen a user sees (read
    through pyte), the bytes written, the exit status."""
    argv = ["--config", str(config), "compare", *words]
    child = pexpect.spawn(LLMINST[0], [*LLMINST[1:], *argv], dimensions=(60, columns))
    child.expect(pexpect.EOF, timeout=120)
    child.close()
    screen = pyte.Screen(columns, 60)
    pyte.ByteStream(screen).feed(child.before)
    return [line.rstrip() for line in screen.display], child.before, child.exitstatus


def test_side_by_side_on_a_wide_terminal(config: Path) -> None:
    """A terminal wide enough: one column per model, the answers on the same screen line;
    while they run a live line counts the models done, erased before the answers."""
    prompt = "[[echo:sleep=0.5]] hello wide world"
    lines, written, code = _terminal_run(config, 120, "echo", "shout", "--", prompt)
    assert code == 0
    headers = [line for line in lines if "echo (" in line]
    assert len(headers) == 1 and "shout (" in headers[0]
    row = [line for line in lines if "hello wide world" in line]
    assert len(row) == 1 and "HELLO WIDE WORLD" in row[0]
    assert row[0].index("hello wide world") < row[0].index("HELLO WIDE WORLD")
    assert "[llminst] compare · 0/2 done · ".encode() in written
    assert "[llminst] compare · 1/2 done · ".encode() in written
    assert not [line for line in lines if "[llminst]" in line]


def test_one_after_another_on_a_narrow_terminal(config: Path) -> None:
    """Too narrow for columns of 28 cells: the piped layout, on the terminal."""
    lines, _, code = _terminal_run(config, 50, "echo", "shout", "--", "hello narrow")
    assert code == 0
    shown = [line for line in lines if line]
    assert shown[0].startswith("== echo (") and shown[1] == "hello narrow"
    assert shown[2].startswith("== shout (") and shown[3] == "HELLO NARROW"


@pytest.mark.parametrize("sig", SIGNALS, ids=SIGNAL_IDS)
async def test_a_signal_cancels_every_model_and_leaves_nothing(tmp_path: Path, sig: int) -> None:
    """TERM, HUP, INT midway: every model's tree (a setsid grandchild too) is killed and
    reaped, then exit 128 + the signal with one line on stderr and no traceback."""
    tree = write_tree_config(tmp_path)
    argv = [*LLMINST, "--config", str(tree.config), "compare", "tree", "escaper", "--", "x"]
    done = await signal_midway(argv, tree, sig, processes=4)
    assert_cancelled(done, sig, tree, line="llminst: cancelled")
    assert done.stdout == ""
