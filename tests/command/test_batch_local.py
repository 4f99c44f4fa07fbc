"""`llminst batch FILE` on the SQLite store: the batch runs in the command's process, its results
come back as JSONL, a bad line refuses it before anything runs, and a batch interrupted by a
signal (SIGTERM, or Ctrl-C on a real terminal) resumes with every item completed exactly once.

Real `llminst` processes, a real SQLite file and a stand-in CLI (`batchcli.sh`) that records
each run in a file, so what ran is counted apart from what llminst reports.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import trio

from ..support.batch import (
    counted,
    results_by_id,
    wait_for_runs,
    write_batch_config,
    write_batch_file,
)
from ..support.monitor import Terminal, call_record
from ..support.paths import LLMINST


def llminst(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LLMINST, *args], capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )


async def test_a_local_batch_of_20_completes_and_its_results_are_jsonl(tmp_path: Path) -> None:
    fake = write_batch_config(tmp_path)
    store = tmp_path / "calls.sqlite3"
    batch_file = write_batch_file(tmp_path / "b.jsonl", 20, failing=(7,))
    common = ("--config", str(fake.config), "--store", str(store))
    ran = llminst("batch", str(batch_file), "--model", "fake", "--id", "b20", *common)
    assert ran.returncode == 1, ran.stderr  # one item failed
    assert ran.stdout == "b20\n"
    assert "b20 20/20 done (19 succeeded, 1 failed)" in ran.stderr
    assert "Traceback" not in ran.stderr
    results = llminst("batch", "results", "b20", *common)
    assert results.returncode == 0, results.stderr
    rows = [json.loads(line) for line in results.stdout.splitlines()]
    assert [row["id"] for row in rows] == [f"item-{n}" for n in range(20)]  # file order
    for n, row in enumerate(rows):
        assert set(row) == {"id", "model", "state", "answer", "error", "call_id", "worker"}
        assert row["model"] == "fake" and row["call_id"]
        if n == 7:
            assert row["state"] == "failed" and row["answer"] is None
            assert str(row["error"]).startswith("process_failed:")
        else:
            assert row["state"] == "succeeded" and row["error"] is None
            assert row["answer"] == f"answer to prompt-{n}\n"
        record = await call_record(store, str(row["call_id"]))
        assert record is not None and record.origin.value == "batch"
        assert record.state.value == row["state"]
    assert counted(fake.runs, "start") == {
        f"prompt-{n}" + ("-FAIL" if n == 7 else ""): 1 for n in range(20)
    }
    status = llminst("batch", "status", "b20", "--json", *common)
    assert json.loads(status.stdout)["done"] == 20


def test_a_bad_line_refuses_the_batch_before_anything_runs(tmp_path: Path) -> None:
    fake = write_batch_config(tmp_path)
    batch_file = tmp_path / "bad.jsonl"
    batch_file.write_text('{"prompt": "a"}\n{"prompt": "b"}\n{"prompt": "c", "temp": 1}\n')
    common = ("--config", str(fake.config), "--store", str(tmp_path / "calls.sqlite3"))
    ran = llminst("batch", str(batch_file), "--model", "fake", *common)
    assert ran.returncode == 2
    assert ran.stderr.startswith(f"llminst: invalid_input: {batch_file}: line 3: unknown key")
    assert ran.stdout == ""
    assert not fake.runs.exists()
    listed = llminst("batch", "list", "--json", *common)
    assert json.loads(listed.stdout) == []


async def test_a_batch_stopped_by_sigterm_resumes_and_completes_each_item_once(
    tmp_path: Path, report: Callable[..., None]
) -> None:
    fake = write_batch_config(tmp_path, sleep_s=0.3)
    store = tmp_path / "calls.sqlite3"
    batch_file = write_batch_file(tmp_path / "b.jsonl", 20)
    common = ("--config", str(fake.config), "--store", str(store))
    first = await trio.lowlevel.open_process(
        [*LLMINST, "batch", str(batch_file), "--model", "fake", "--id", "bt", "--parallel", "2",
         *common],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    with trio.fail_after(300):
        await wait_for_runs(fake.runs, "end", 6)
        first.send_signal(signal.SIGTERM)
        await first.wait()
    assert first.returncode == 128 + signal.SIGTERM
    assert first.stderr is not None
    said = (await first.stderr.receive_some(65536)).decode()
    assert "llminst batch resume bt" in said and "Traceback" not in said
    before = results_by_id(llminst("batch", "results", "bt", *common).stdout)
    assert 0 < len(before) < 20
    started_before = counted(fake.runs, "start")

    resumed = llminst("batch", "resume", "bt", *common)
    assert resumed.returncode == 0, resumed.stderr
    after = results_by_id(llminst("batch", "results", "bt", *common).stdout)
    assert sorted(after) == sorted(f"item-{n}" for n in range(20))
    assert all(len(rows) == 1 and rows[0]["state"] == "succeeded" for rows in after.values())
    started = counted(fake.runs, "start")
    for item_id in before:  # completed before the signal: never run again
        prompt = item_id.replace("item", "prompt")
        assert started[prompt] == started_before[prompt] == 1
    rerun = sorted(prompt for prompt, times in started.items() if times > 1)
    report(
        f"batch stopped by SIGTERM after {len(before)}/20 results; resumed: 20/20 completed "
        f"once each, {len(rerun)} interrupted item(s) ran again ({', '.join(rerun)})",
        rerun=len(rerun),
    )


def test_ctrl_c_on_a_terminal_stops_the_bar_and_resume_finishes(tmp_path: Path) -> None:
    fake = write_batch_config(tmp_path, sleep_s=0.3)
    batch_file = write_batch_file(tmp_path / "b.jsonl", 12)
    common = ["--config", str(fake.config), "--store", str(tmp_path / "calls.sqlite3")]
    term = Terminal(
        [*LLMINST, "batch", str(batch_file), "--model", "fake", "--id", "bp", "--parallel", "1",
         *common]
    )  # fmt: skip
    term.wait_for(lambda t: any("bp" in line and "3/12" in line for line in t.lines()))
    term.child.sendintr()
    term.wait_exit()
    assert term.child.exitstatus == 128 + signal.SIGINT
    assert b"Traceback" not in term.received
    shown = "\n".join(term.lines())
    assert "\u2501" in shown  # the bar (rich draws it with heavy horizontals)
    assert "cancelled by SIGINT" in shown

    resumed = llminst("batch", "resume", "bp", *common)
    assert resumed.returncode == 0, resumed.stderr
    done = results_by_id(llminst("batch", "results", "bp", *common).stdout)
    assert sorted(done) == sorted(f"item-{n}" for n in range(12))
    assert all(len(rows) == 1 for rows in done.values())

    status = Terminal([*LLMINST, "batch", "status", "bp", *common])
    status.wait_exit()
    line = next(line for line in status.lines() if line.startswith("bp"))
    assert "12/12" in line and "12 ok, 0 failed" in line and "\u2501" in line
    plain = llminst("batch", "status", "bp", *common)  # not a terminal: one plain line
    assert plain.stdout == "bp 12/12 done (12 succeeded, 0 failed), 0 running, 0 pending\n"


def test_results_of_an_unknown_batch_say_so(tmp_path: Path) -> None:
    ran = llminst("batch", "results", "nope", "--store", str(tmp_path / "calls.sqlite3"))
    assert ran.returncode == 1
    assert ran.stderr.startswith("llminst: unknown_batch: no batch nope")
