"""Fault injection: CLIs that misbehave (tests/support/faults.py), through the supervisor API.

After every fault: no process the test started is alive or a zombie (by the PIDs the helper CLI
records and by a marker in the command line), and the test's open descriptors are back to their
starting count. Each fault prints its cleanup time (cancel to tree gone, or the call's start to
tree gone). The same faults through a real `llminst serve`: tests/serve/test_faults.py.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import trio

from llminst._core.errors import LLMError
from llminst._core.spec import ModelSpec, OutputFormat, PromptMode, Settings
from llminst.supervisor import open_supervisor

from ..support.faults import CAP, FAULTS, GRACE, Fault, check_outcome, nothing_left, spec_fields
from ..support.models import models_with
from ..support.procs import wait_for_pids

SETTINGS = Settings(grace_period_s=GRACE, max_output_bytes=CAP)


def _spec(fault: Fault, pidfile: Path, marker: str) -> ModelSpec:
    fields = spec_fields("fault", fault, pidfile, marker)
    fields["command"] = tuple(fields["command"])
    if "output_format" in fields:
        fields["output_format"] = OutputFormat(fields["output_format"])
    if "prompt_mode" in fields:
        fields["prompt_mode"] = PromptMode(fields["prompt_mode"])
    return ModelSpec(**fields)


@pytest.mark.parametrize("name", list(FAULTS))
async def test_fault_through_the_supervisor(name: str, tmp_path: Path) -> None:
    """Each fault ends in a clear result or error and leaves no process or descriptor behind."""
    fault = FAULTS[name]
    pidfile, marker = tmp_path / "pids", f"fault-{uuid.uuid4().hex}"
    spec = _spec(fault, pidfile, marker)
    async with nothing_left(pidfile, marker) as clock:
        async with open_supervisor(
            models=models_with(spec), settings=SETTINGS, subreaper=True
        ) as supervisor:
            result, error = None, None
            async with trio.open_nursery() as nursery:

                async def call() -> None:
                    nonlocal result, error
                    try:
                        result = await supervisor.run("fault", fault.prompt, timeout=60)
                    except LLMError as exc:
                        error = exc

                start = clock()
                nursery.start_soon(call)
                if fault.outcome == "cancel":
                    await wait_for_pids(pidfile, fault.pids)
                    await trio.sleep(0.2)  # let it reach its misbehaviour
                    start = clock()
                    nursery.cancel_scope.cancel()
            elapsed = trio.current_time() - start
        if fault.outcome != "cancel":
            check_outcome(name, fault, result, error)
    what = "cancel to tree gone" if fault.outcome == "cancel" else "call, start to tree gone"
    print(f"FAULT {name} [supervisor]: {what} {elapsed:.3f} s")
    if fault.outcome == "cancel":
        assert elapsed < GRACE + 5.0
