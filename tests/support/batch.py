"""Batch tests' helpers: a config whose model `fake` is `batchcli.sh` (each run recorded in a
file), batch files of N prompts, and counting what ran.

`fake` records ``start PROMPT PID`` and ``end PROMPT PID`` per run in `runs`, so a test can say
how many times each prompt was started and finished, independently of what llminst reports.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import trio
from attrs import frozen

from .config import write_config
from .paths import TESTS

BATCHCLI = str(TESTS / "support" / "batchcli.sh")


@frozen
class BatchSetup:
    config: Path
    runs: Path


def write_batch_config(
    tmp_path: Path, *, sleep_s: float = 0.0, store: dict[str, str] | None = None
) -> BatchSetup:
    """A config with the model `fake` (sleeping `sleep_s` per call, recording runs)."""
    runs = tmp_path / "runs.txt"
    config = write_config(
        tmp_path / "llminst.toml",
        models={
            "fake": {
                "command": ["sh", BATCHCLI],
                "env": {"BATCHCLI_RUNS": str(runs), "BATCHCLI_SLEEP": str(sleep_s)},
            }
        },
        settings={"grace_period_s": 1.0},
        store=store,
    )
    return BatchSetup(config, runs)


def write_batch_file(path: Path, count: int, *, failing: tuple[int, ...] = ()) -> Path:
    """`count` items ``{"id": "item-N", "prompt": "prompt-N"}`` (``FAIL`` in the prompts of
    the numbers in `failing`)."""
    lines = [
        json.dumps({"id": f"item-{n}", "prompt": f"prompt-{n}" + ("-FAIL" if n in failing else "")})
        for n in range(count)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def counted(runs: Path, what: str) -> Counter[str]:
    """How many times each prompt was started (`what` = "start") or finished ("end")."""
    if not runs.exists():
        return Counter()
    return Counter(
        line.split()[1] for line in runs.read_text().splitlines() if line.startswith(what + " ")
    )


def results_by_id(jsonl: str) -> dict[str, list[dict[str, object]]]:
    """`batch results` lines grouped by item id (a list, so duplicates would show)."""
    grouped: dict[str, list[dict[str, object]]] = {}
    for line in jsonl.splitlines():
        row = json.loads(line)
        grouped.setdefault(str(row["id"]), []).append(row)
    return grouped


async def wait_for_runs(runs: Path, what: str, count: int) -> None:
    """Poll `runs` until at least `count` runs reached `what` ("start" or "end")."""
    while True:
        if sum(counted(runs, what).values()) >= count:
            return
        await trio.sleep(0.05)
