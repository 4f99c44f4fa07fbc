"""The supervisor: the only place in llminst that starts, reads, signals, kills and reaps processes.

`open_supervisor()` opens a nursery and yields the `Supervisor`, the facade callers use. A call
runs (`call.CallRunner.drive`) in its caller's task (`run`) or as a task of that nursery
(`open_stream`), under its own cancel scope whose deadline covers queueing for the model's
concurrency limit, every attempt and every backoff sleep. Each attempt (`attempt`) starts the
CLI in a new session (process group) with stdin from /dev/null (or the prompt written and
closed), drains stdout and stderr concurrently, and passes what the caller should see into a
bounded trio memory channel (backpressure, not unbounded buffering).

Cleanup is a contract. However an attempt ends (exit, deadline, caller cancelled, supervisor
closed) its process group gets SIGTERM, a grace period, SIGKILL, and is reaped, inside a shielded
scope; stragglers the CLI left in its group are killed too. With ``subreaper=True`` (Linux)
descendants that left the group with ``setsid`` are killed and reaped as well (`reaper`).
Leaving `open_supervisor()` cancels every call, so every process it started is gone when the
``async with`` block ends. An attempt whose CLI keeps printing the same connection or
credentials error without answering is ended the same way, early, instead of at its deadline.

The package, one rule per module: `opening` (`open_supervisor`: the block every call ends
within), `facade` (`Supervisor`, thin), `assembly` (the shared parts wired once), `options` (one
call's keyword arguments, documented once, and its request), `handover` (a call run inline, as
a stream or as a job), `readiness` (`status` rows), `callstate` (one call's state), `call` (one
call: deadline, limiter, attempts, backoff), `attempt` (one process of a call), `process`
(start, kill a tree, reap), `pumps` (pipes), `stream` (what a caller iterates), `capabilities`
(executables, versions, help, status), `workdir` (a call's directory, checked before it
starts), `cooldowns` (which accounts rest after a rate limit, kept in the store), `recorder`
(every call written to the store), `cache` (answers kept in the store and served without a
process), `budgets` (spending limits, checked before a process starts), `cancels` (calls
cancelled at another process's request, read from the store), `memory` (admission by memory,
process-tree sampling), `warm` (processes started ahead), `sessions` (one call of a session at
a time), `reaper` (descendants that left their group), `procfs` (the one reader of ``/proc``),
`fanout` (one prompt to several models at once) and `live` (running calls, waiting for their
news). A job (`start`, `jobs`) is a call of the supervisor's nursery that nobody reads as it
runs: its caller polls the store, and may cancel it.
Everything that is not I/O (the request, argv, decoding, output caps, outcomes, retry
decisions, JSON) lives in `_core`.
"""

from __future__ import annotations

from .capabilities import QUICK_COMMAND_RETRY_AFTER_S, VERSION_PROBE_LIMIT_S
from .facade import Supervisor
from .opening import open_supervisor
from .options import CallOptions
from .stream import AttemptStarted, CallStream, FallbackStarted, RetryScheduled, StreamEvent

__all__ = [
    "QUICK_COMMAND_RETRY_AFTER_S",
    "VERSION_PROBE_LIMIT_S",
    "AttemptStarted",
    "CallOptions",
    "CallStream",
    "FallbackStarted",
    "RetryScheduled",
    "StreamEvent",
    "Supervisor",
    "open_supervisor",
]
