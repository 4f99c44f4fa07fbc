"""The call store from the command line: `llminst run` records its call, `llminst calls` and
`llminst show` read it, `--store memory` and `keep_prompts = false` keep what they promise, an
unusable store file is one line and exit 2, and a call whose process died is `interrupted` with
its partial output while a live process's call is left alone.

Real `llminst` processes, real SQLite files; the store is also read through `SQLiteStore`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import trio

from llminst._core.records import CallOrigin, CallState
from llminst.store import SQLiteStore, open_store
from llminst.store.sqlite import SCHEMA_VERSION

from ..support.config import write_config
from ..support.paths import LLMINST
from ..support.procs import descendants, is_alive

ANSWER_MODEL = {"command": [sys.executable, "-c", "print('the fixed answer')"]}


def llminst(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LLMINST, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def calls_json(store: Path) -> list[dict[str, Any]]:
    listed = llminst("calls", "--store", str(store), "--json")
    assert listed.returncode == 0, listed.stderr
    records: list[dict[str, Any]] = json.loads(listed.stdout)
    return records


def store_bytes(store: Path) -> bytes:
    """The database and its WAL and shared-memory files, as they are on disk."""
    files = [store, Path(f"{store}-wal"), Path(f"{store}-shm")]
    return b"".join(f.read_bytes() for f in files if f.exists())


def test_run_records_its_call_and_calls_and_show_find_it(tmp_path: Path) -> None:
    store = tmp_path / "calls.sqlite3"
    prompt = "héllo 漢字 🎉 e\u0301"
    ran = llminst("run", "--store", str(store), "echo", prompt)
    assert ran.returncode == 0, ran.stderr
    (record,) = calls_json(store)
    assert record["state"] == "succeeded" and record["origin"] == "run"
    assert record["model"] == "echo" and record["prompt"] == prompt
    assert record["output_chars"] == len(prompt)

    table = llminst("calls", "--store", str(store))
    header, row = table.stdout.splitlines()
    assert header.split() == ["ID", "STATE", "MODEL", "STARTED", "DURATION", "CHARS", "ERROR"]
    assert row.split()[:3] == [record["call_id"], "succeeded", "echo"]

    shown = llminst("show", "--store", str(store), record["call_id"])
    assert shown.returncode == 0
    assert shown.stdout == prompt  # stdout carries the output alone, exactly
    assert "state: succeeded" in shown.stderr and f"call_id: {record['call_id']}" in shown.stderr
    as_json = json.loads(llminst("show", "--store", str(store), "--json", record["call_id"]).stdout)
    assert as_json["output"] == prompt and as_json["state"] == "succeeded"


def test_calls_filters_by_state_and_model(tmp_path: Path) -> None:
    store = tmp_path / "calls.sqlite3"
    assert llminst("run", "--store", str(store), "echo", "fine").returncode == 0
    assert llminst("run", "--store", str(store), "echo", "[[echo:exit=3]] bad").returncode == 1
    failed = llminst("calls", "--store", str(store), "--state", "failed", "--json")
    (record,) = json.loads(failed.stdout)
    assert record["error_kind"] == "process_failed" and record["exit_code"] == 3
    assert (
        json.loads(llminst("calls", "--store", str(store), "--model", "x", "--json").stdout) == []
    )
    assert (
        len(json.loads(llminst("calls", "--store", str(store), "--limit", "1", "--json").stdout))
        == 1
    )


def test_show_of_an_unknown_call_is_one_line_and_exit_1(tmp_path: Path) -> None:
    store = tmp_path / "calls.sqlite3"
    shown = llminst("show", "--store", str(store), "nope-1")
    assert shown.returncode == 1 and shown.stdout == ""
    assert shown.stderr == (
        f"llminst: unknown_call: no call nope-1 in {store}; list them with llminst calls\n"
    )


def test_the_default_store_is_in_the_data_dir_and_memory_leaves_no_file(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    assert llminst("run", "--store", "memory", "echo", "nothing on disk", env=env).returncode == 0
    assert not (tmp_path / "data").exists()
    assert llminst("run", "echo", "on disk", env=env).returncode == 0
    default = tmp_path / "data" / "llminst" / "llminst.sqlite3"
    assert [r["prompt"] for r in calls_json(default)] == ["on disk"]


@pytest.mark.parametrize("keep", [True, False], ids=["kept", "not-kept"])
def test_keep_prompts_false_leaves_no_prompt_in_the_files(tmp_path: Path, keep: bool) -> None:
    store = tmp_path / "calls.sqlite3"
    config = write_config(
        tmp_path / "llminst.toml",
        models={"answer": ANSWER_MODEL},
        store={"path": str(store), "keep_prompts": keep},
    )
    secret = f"SECRET-{uuid.uuid4().hex}"
    ran = llminst("--config", str(config), "run", "answer", f"the prompt {secret}")
    assert ran.returncode == 0 and ran.stdout == "the fixed answer\n"
    (record,) = calls_json(store)
    assert record["output_chars"] > 0
    assert (secret.encode() in store_bytes(store)) is keep
    assert (record["prompt"] is not None) is keep


def _write_other_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    db.close()


def _write_newer_store(path: Path) -> None:
    async def make() -> None:
        store = await SQLiteStore.open(path)
        await store.aclose()

    trio.run(make)
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()


UNUSABLE = {
    "random-bytes": (
        lambda p: p.write_bytes(os.urandom(8192)),
        "is not a SQLite database (file is not a database); move it aside or pass --store memory",
    ),
    "directory": (lambda p: p.mkdir(), "is a directory; pass a file path, e.g. --store "),
    "another-database": (_write_other_sqlite, "is a SQLite database but not an llminst store"),
    "newer-schema": (_write_newer_store, "was written by a newer llminst"),
}


@pytest.mark.parametrize("case", list(UNUSABLE))
@pytest.mark.parametrize("command", ["run", "serve", "calls", "show"])
def test_an_unusable_store_is_one_line_exit_2_and_left_untouched(
    tmp_path: Path, case: str, command: str
) -> None:
    store = tmp_path / "calls.sqlite3"
    make, says = UNUSABLE[case]
    make(store)
    before = sorted(p.name for p in tmp_path.iterdir())
    digest = hashlib.sha256(store.read_bytes()).hexdigest() if store.is_file() else None
    args = {"run": ["echo", "hi"], "serve": [], "calls": [], "show": ["x-1"]}[command]
    done = llminst(command, "--store", str(store), *args)
    who = "llminst serve" if command == "serve" else "llminst"
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"{who}: config: store {store} {says}")
    assert done.stderr.count("\n") == 1, done.stderr  # one line, no traceback
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if digest is not None:
        assert hashlib.sha256(store.read_bytes()).hexdigest() == digest


def test_an_unwritable_directory_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A store whose directory cannot be made. Root writes through any mode bits, so as root
    the directory is one on sysfs, where nobody may create anything."""
    if os.geteuid() == 0:
        parent = Path("/sys/fs")
        assert parent.is_dir()
    else:
        parent = tmp_path / "locked"
        parent.mkdir()
        parent.chmod(0o555)
    store = parent / f"llminst-{uuid.uuid4().hex}" / "calls.sqlite3"
    before = sorted(parent.iterdir())
    done = llminst("run", "--store", str(store), "echo", "hi")
    assert done.returncode == 2, done.stderr
    first, why = done.stderr.split(" (", 1)
    assert first == (
        f"llminst: config: store {store} cannot be created: its directory {store.parent} "
        "cannot be made"
    )
    assert why.endswith("); pass a writable --store PATH (or [store] path) or --store memory\n")
    assert done.stderr.count("\n") == 1 and sorted(parent.iterdir()) == before


async def _wait_for_output(store_file: Path, min_chars: int = 3) -> Any:
    """The one call in the store once it runs and has some output stored (polled)."""
    while True:
        exists = await trio.Path(store_file).exists()
        store = await SQLiteStore.open(store_file) if exists else None
        if store is not None:
            try:
                found = await store.list_calls(states=[CallState.RUNNING])
            finally:
                await store.aclose()
            if found and found[0].output_chars >= min_chars:
                return found[0]
        await trio.sleep(0.1)


SLOW_STREAM = "[[echo:delay=0.2]] " + " ".join(f"w{i}" for i in range(600))


def _kill_tree_of(pid: int) -> list[int]:
    """SIGKILL `pid` and every process below it (found before it dies); their PIDs."""
    below = [child for child, _ in descendants(pid)]
    for victim in [pid, *below]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
    return below


async def _wait_gone(pids: list[int]) -> None:
    with trio.fail_after(60):
        while any(is_alive(pid) for pid in pids):  # noqa: ASYNC110 - /proc has no event
            await trio.sleep(0.05)


async def test_a_live_process_keeps_its_call_running_a_killed_one_leaves_it_interrupted(
    tmp_path: Path,
) -> None:
    """`llminst run` streams into the store; another start (open_store, `llminst calls`) leaves
    its call running while it lives; SIGKILL it and the next start marks the call interrupted,
    its partial output kept."""
    store_file = tmp_path / "calls.sqlite3"
    proc = await trio.lowlevel.open_process(
        [*LLMINST, "run", "--store", str(store_file), "echo", SLOW_STREAM],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with trio.fail_after(120):
            running = await _wait_for_output(store_file)
        assert running.origin is CallOrigin.RUN
        async with open_store(store_file) as store:  # a start: interrupts only orphans
            assert (await store.get_call(running.call_id)).state is CallState.RUNNING  # type: ignore[union-attr]
        assert calls_json(store_file)[0]["state"] == "running"
    finally:
        below = _kill_tree_of(proc.pid)
        await proc.wait()
    await _wait_gone(below)
    (record,) = calls_json(store_file)  # `llminst calls` is a start too
    assert record["state"] == "interrupted" and record["finished_at"] is not None
    shown = llminst("show", "--store", str(store_file), record["call_id"])
    assert shown.stdout.startswith("w0 w1 w2")
    assert len(shown.stdout) == record["output_chars"] >= len(running_prefix := "w0 w1 w2")
    assert SLOW_STREAM.split("]] ")[1].startswith(shown.stdout), running_prefix
