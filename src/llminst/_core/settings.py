"""Settings beside the models: what a config file's ``[settings]``, ``[budget]``, ``[server]`` and
``[store]`` tables may set (`Settings`, `BudgetSettings`, `ServerSettings`, `StoreSettings`).

Frozen attrs classes with their defaults and checks; pure: never a file, the environment or a process.
"""

from __future__ import annotations

from attrs import field, frozen

from .fieldchecks import (
    FieldValueError,
    each_non_empty,
    each_non_empty_path,
    finite_non_negative,
    finite_positive,
    non_negative,
    optional_finite_non_negative,
    positive,
    store_path,
    to_tuple,
)
from .paging import DEFAULT_MAX_RESULT_CHARS

__all__ = [
    "BudgetSettings",
    "ServerSettings",
    "Settings",
    "StoreSettings",
]


@frozen(kw_only=True)
class Settings:
    """Supervisor-wide settings a config file may set.

    Attributes:
        default_max_concurrency: concurrent calls per model when a spec sets none.
        grace_period_s: seconds between SIGTERM and SIGKILL of a process group.
        max_output_bytes: answer text kept per call; more is dropped and flagged.
        stderr_tail_bytes: how much of the end of stderr is kept.
        stop_after_repeated_errors: end a call once its CLI has printed the same connection or
            credentials error line (a model's ``unreachable_patterns`` / ``auth_patterns``)
            this many times without any answer text; 0 never ends a call early.
        memory_admission: start a call only when the machine's available memory minus
            `memory_reserve_mb` covers its expected peak (see ``expected_memory_mb``); a call
            that does not fit waits (queued, in order) within its deadline. False: calls start
            at once and are measured only when their model sets ``max_memory_mb``.
        memory_reserve_mb: memory (MB) kept free for everything else on the machine.
        warm_memory_mb: the most resident memory all warm processes together may hold
            (models' ``warm``); a process that would pass it is not started.
        heartbeat_lease_s: with a Redis store, how long after its last heartbeat a replica
            counts as dead (its running calls become ``interrupted``).
        heartbeat_every_s: seconds between a replica's heartbeats (under `heartbeat_lease_s`).
        replica_sweep_s: seconds between a replica's looks for dead replicas' calls.
        concurrency_lease_s: how long a global concurrency slot (``concurrency_scope =
            "global"``) outlives a replica that stopped renewing it (crashed).
        session_lock_lease_s: how long a session's turn lock outlives a holder that stopped
            renewing it (crashed): the next turn of the session waits at most this long for
            a dead holder (renewed every third of it while the turn runs).
    """

    default_max_concurrency: int = field(default=8, validator=positive)
    grace_period_s: float = field(default=3.0, validator=finite_non_negative)
    max_output_bytes: int = field(default=32 * 1024 * 1024, validator=positive)
    stderr_tail_bytes: int = field(default=8192, validator=positive)
    stop_after_repeated_errors: int = field(default=3, validator=non_negative)
    memory_admission: bool = True
    memory_reserve_mb: int = field(default=256, validator=non_negative)
    warm_memory_mb: int = field(default=2048, validator=positive)
    heartbeat_lease_s: float = field(default=10.0, validator=finite_positive)
    heartbeat_every_s: float = field(default=3.0, validator=finite_positive)
    replica_sweep_s: float = field(default=5.0, validator=finite_positive)
    concurrency_lease_s: float = field(default=30.0, validator=finite_positive)
    session_lock_lease_s: float = field(default=30.0, validator=finite_positive)

    def __attrs_post_init__(self) -> None:
        if self.heartbeat_every_s >= self.heartbeat_lease_s:
            raise FieldValueError(
                "heartbeat_every_s",
                f"heartbeat_every_s ({self.heartbeat_every_s}) must be shorter than "
                f"heartbeat_lease_s ({self.heartbeat_lease_s}): beat a few times per lease "
                "(e.g. every 3 s for a 10 s lease)",
            )


@frozen(kw_only=True)
class BudgetSettings:
    """What a config file's ``[budget]`` table may set: spending limits over every model.

    Attributes:
        daily_usd: what all calls may cost per UTC day (None: no limit).
        monthly_usd: what all calls may cost per UTC calendar month (None: no limit).

    A call that would start after a limit is spent fails with ``budget_exceeded`` before any
    process starts; models may have their own (`ModelSpec.budget_daily_usd`).
    """

    daily_usd: float | None = field(default=None, validator=optional_finite_non_negative)
    monthly_usd: float | None = field(default=None, validator=optional_finite_non_negative)


@frozen(kw_only=True)
class ServerSettings:
    """What a config file's ``[server]`` table may set for ``llminst serve``.

    Attributes:
        allow_commands: executables (names looked up on PATH, or absolute paths) that
            ``configure_llm`` may point a model at; empty means any command on stdio, and no
            remote configuration at all over HTTP. Adds to ``--allow-command``.
        allowed_roots: directories under which a call's ``cwd`` may lie (compared as real
            paths, so a symlink cannot lead out); empty means any directory on stdio, and no
            per-call ``cwd`` at all over HTTP. Adds to ``--allow-root``.
        max_result_chars: output characters one tool result carries at most (execute_llm,
            stream_llm, a get_llm_result piece); the rest is read in pieces (see `paging`).
    """

    allow_commands: tuple[str, ...] = field(
        default=(), converter=to_tuple, validator=each_non_empty
    )
    allowed_roots: tuple[str, ...] = field(
        default=(), converter=to_tuple, validator=each_non_empty_path
    )
    max_result_chars: int = field(default=DEFAULT_MAX_RESULT_CHARS, validator=positive)


@frozen(kw_only=True)
class StoreSettings:
    """What a config file's ``[store]`` table may set: where calls are recorded.

    Attributes:
        path: the store's SQLite file (``~`` expanded), ``"memory"`` to keep nothing on disk, or
            a ``redis://HOST:PORT/DB`` URL (a store replicas share);
            None: ``llminst.sqlite3`` in the user data directory. ``--store`` overrides it.
        keep_prompts: keep each call's prompt in its record (false: the answer only).
        retention_days: calls older than this are deleted when a store is opened.
    """

    path: str | None = field(default=None, validator=store_path)
    keep_prompts: bool = True
    retention_days: int = field(default=30, validator=positive)
