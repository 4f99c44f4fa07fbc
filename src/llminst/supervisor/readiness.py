"""Every model's readiness for `Supervisor.status`: capabilities, load and cooldown in one row.

`capabilities.Capabilities.status` says whether each CLI is there, its version, and (when
probing) whether a tiny prompt gets an answer; this adds what the supervisor knows of each
model now: calls queued, its account, and the cooldown it rests under.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from .._core.cooldowns import account_of
from .._core.errors import LLMError
from .._core.spec import ModelSpec
from .._core.status import ModelStatus
from .capabilities import Capabilities
from .cooldowns import CooldownKeeper

if TYPE_CHECKING:
    from .facade import Supervisor

__all__ = ["model_statuses"]

_PROBE_PROMPT = "Reply with the single word: ok"


async def model_statuses(
    supervisor: Supervisor,
    capabilities: Capabilities,
    cooldowns: CooldownKeeper,
    *,
    probe: bool,
    version_wait_s: float,
) -> list[ModelStatus]:
    """Each configured model's `ModelStatus` (see `Supervisor.status`)."""
    models = supervisor.models

    async def probe_one(spec: ModelSpec) -> str:
        try:
            await supervisor.run(spec.name, _PROBE_PROMPT, timeout=60)
        except LLMError as exc:
            return f"{exc.kind}: {exc}"
        return "ok"

    statuses = await capabilities.status(
        list(models.values()),
        version_wait_s=version_wait_s,
        limit_of=supervisor.concurrency_limit,
        running_of=lambda spec: supervisor.running().get(spec.name, 0),
        probe=probe_one if probe else None,
    )
    queued = supervisor.queued
    return [
        _with_cooldown(status, models.get(status.model), cooldowns, queued) for status in statuses
    ]


def _with_cooldown(
    status: ModelStatus,
    spec: ModelSpec | None,
    cooldowns: CooldownKeeper,
    queued: Callable[[], dict[str, int]],
) -> ModelStatus:
    if spec is None:
        return status
    record = cooldowns.resting(spec)
    return attrs.evolve(
        status,
        queued=queued().get(spec.name, 0),
        account=account_of(spec),
        cooldown_until=record.until if record else None,
        cooldown_reason=record.reason if record else None,
    )
