"""`Supervisor.compare`: one prompt to several real CLI processes at once.

The models (tests/support/fanout_models.py) each answer the same prompt their own way: one
hangs, one fails, one answers. Concurrency is shown by counting processes alive at the same
time, never by timing; what is left afterwards is checked by PID.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from llminst import InvalidInputError, UnknownModelError, open_supervisor
from llminst._core.errors import InvalidJSONSchemaError
from llminst.supervisor import CallStream

from ..support.fanout_models import fanout_specs
from ..support.models import models_with
from ..support.procs import is_alive, read_pids, wait_for_pids
from ..support.scripts import SETTINGS


def _models(tmp_path: Path) -> dict:
    return models_with(*fanout_specs(tmp_path / "pids"))


@pytest.mark.slow
async def test_one_hangs_one_fails_one_answers(tmp_path: Path) -> None:
    """The hanging model times out, the failing one fails, the others answer: one entry each,
    in the order given, and neither failure stopped the answers (timeout 10 s, the hang's)."""
    async with open_supervisor(models=_models(tmp_path), settings=SETTINGS) as supervisor:
        compared = await supervisor.compare(
            "hello", ["hangs", "fails", "echo", "shout"], timeout=10
        )
    hangs, fails, echo, shout = compared.results
    assert [r.model for r in compared.results] == ["hangs", "fails", "echo", "shout"]
    assert (hangs.success, hangs.error_kind, hangs.output) == (False, "timeout", "started\n")
    assert (fails.success, fails.error_kind, fails.exit_code) == (False, "process_failed", 3)
    assert "out of cheese" in fails.stderr_tail
    assert (echo.success, echo.output) == (True, "hello")
    assert (shout.success, shout.output) == (True, "HELLO\n")
    assert compared.answered == ("echo", "shout") and compared.failed == ("hangs", "fails")
    assert hangs.duration_s >= 10 > echo.duration_s
    assert compared.duration_s >= hangs.duration_s
    assert not [p for p in read_pids(tmp_path / "pids") if is_alive(p)]


async def test_cancelled_midway_every_tree_is_gone(tmp_path: Path) -> None:
    """All models run at once (their processes are alive together); cancelling the compare
    kills and reaps every tree, grandchildren included, before control comes back."""
    pidfile = tmp_path / "pids"
    async with open_supervisor(models=_models(tmp_path), settings=SETTINGS) as supervisor:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(supervisor.compare, "x", ["tree", "hangs", "records"])
                # tree + its grandchild, hangs; records answers and exits on its own.
                pids = await wait_for_pids(pidfile, 4, within_s=60)
                running = [p for p in pids if is_alive(p)]
                assert len(running) >= 3  # tree, its grandchild and hangs: together
                scope.cancel()
        assert scope.cancelled_caught
        assert not [p for p in pids if is_alive(p)]
        assert supervisor.running() == {}


async def test_synthesis_gets_the_answers_anonymised(tmp_path: Path) -> None:
    """The synthesizer reads the request and the successful answers as Answer 1, 2, in the
    order given, with no model's name; the failed model's error is left out."""
    async with open_supervisor(models=_models(tmp_path), settings=SETTINGS) as supervisor:
        compared = await supervisor.compare(
            "Say hi", ["shout", "fails", "echo"], synthesize_with="records"
        )
    assert compared.synthesized_from == ("shout", "echo")
    synthesis = compared.synthesis
    assert synthesis is not None and synthesis.success and synthesis.model == "records"
    read = json.loads(synthesis.output)["argv"][-1]
    assert "--- Request ---\nSay hi\n" in read
    assert "--- Answer 1 ---\nSAY HI\n\n--- Answer 2 ---\nSay hi\n" in read
    assert "Answer 3" not in read and "out of cheese" not in read
    for name in ("shout", "fails", "echo", "records"):
        assert name not in read


async def test_nothing_to_synthesize_runs_no_synthesis(tmp_path: Path) -> None:
    """When no model answered, the synthesizer is not started: its entry says no_answers."""
    pidfile = tmp_path / "pids"
    async with open_supervisor(models=_models(tmp_path), settings=SETTINGS) as supervisor:
        compared = await supervisor.compare("x", ["fails"], synthesize_with="records")
    assert compared.synthesis is not None and compared.synthesis.error_kind == "no_answers"
    assert compared.synthesis.attempts == 0 and compared.synthesized_from == ()
    assert len(read_pids(pidfile)) == 1  # `fails` alone ran


@pytest.mark.parametrize(
    ("models", "synthesize_with", "schema", "error"),
    [
        (["shout", "nope"], None, None, UnknownModelError),
        (["shout", "echo"], "nope", None, UnknownModelError),
        (["shout", "shout"], None, None, InvalidInputError),
        (["shout"], None, '{"type": "nonsense"}', InvalidJSONSchemaError),
    ],
)
async def test_refused_before_anything_starts(
    tmp_path: Path, models: list[str], synthesize_with: str | None, schema: str | None, error: type
) -> None:
    """An unknown model (or synthesizer), a repeated name or a bad schema is raised before
    any model's process starts."""
    async with open_supervisor(models=_models(tmp_path), settings=SETTINGS) as supervisor:
        with pytest.raises(error):
            await supervisor.compare(
                "x", models, json_schema=schema, synthesize_with=synthesize_with
            )
    assert read_pids(tmp_path / "pids") == []


async def test_json_mode_and_forwarded_streams(tmp_path: Path) -> None:
    """json_mode reaches every model; `forward` reads each call's stream in its own task,
    labelled with the model (and "synthesis")."""
    seen: dict[str, str] = {}

    async def forward(label: str, stream: CallStream) -> None:
        seen[label] = "".join([chunk async for chunk in stream])

    async with open_supervisor(models=_models(tmp_path), settings=SETTINGS) as supervisor:
        compared = await supervisor.compare(
            "Why?", ["echo"], json_mode=True, synthesize_with="echo", forward=forward
        )
    assert compared.results[0].parsed_json == {"question": "Why?", "answer": "echo: Why?"}
    assert compared.synthesis is not None and compared.synthesis.parsed_json is not None
    assert set(seen) == {"echo", "synthesis"}
    assert json.loads(seen["echo"]) == compared.results[0].parsed_json
