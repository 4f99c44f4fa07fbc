"""`llminst cancel CALL_ID`: ask the process that runs a call to cancel it, through the store.

The request is written to the call store (`CallStore.request_cancel`); the supervisor running
the call (an `llminst serve`, `run` or `compare` on the same store) reads it within a fraction
of a second and cancels the call as its own caller would: state ``cancelled``, partial output
kept, process tree killed and reaped. The command then waits (``--wait``, default 10 s) until
the record says the call ended and prints ``CALL_ID STATE`` on stdout.

Exit status: 0 the call ended (or had already ended: nothing to do, said on stderr); 1 unknown
call id (``unknown_call``), or still running when the wait ran out. What it must never do:
signal a process itself (only the supervisor that started a tree kills it), or run a call.
"""

from __future__ import annotations

import argparse
import sys
import time

import trio

from .._core.records import CallRecord
from ..store import CallStore, store_label
from .common import Setup, open_command_store, store_spec

__all__ = ["cancel", "request_cancel"]

_CHECK_EVERY_S = 0.05


async def cancel(args: argparse.Namespace, setup: Setup) -> int:
    async with open_command_store(args, setup) as store:
        record = await store.get_call(args.call_id)
        if record is None:
            where = store_label(store_spec(args, setup))
            _say(f"unknown_call: no call {args.call_id} in {where}; list them with llminst calls")
            return 1
        if record.state.done:
            _say(f"call {record.call_id} already ended ({record.state.value}); nothing to cancel")
            print(f"{record.call_id} {record.state.value}")
            return 0
        asked = time.monotonic()
        await request_cancel(store, record.call_id)
        ended = await _wait_until_done(store, record.call_id, args.wait)
    if ended is None:
        _say(
            f"cancel of {args.call_id} requested, but it still runs after {args.wait:g} s: "
            "the process running it reads requests only from the store it records to "
            "(pass the same --store); run llminst cancel again to wait longer"
        )
        return 1
    _say(f"call {ended.call_id} {ended.state.value} in {time.monotonic() - asked:.2f} s")
    print(f"{ended.call_id} {ended.state.value}")
    return 0


async def request_cancel(store: CallStore, call_id: str) -> None:
    """Write the request the call's supervisor acts on (`supervisor.cancels`)."""
    await store.request_cancel(call_id, now=time.time())


async def _wait_until_done(store: CallStore, call_id: str, wait_s: float) -> CallRecord | None:
    """The call's record once it has ended, or None if `wait_s` ran out first."""
    with trio.move_on_after(wait_s):
        while True:
            record = await store.get_call(call_id)
            if record is None or record.state.done:
                return record
            await trio.sleep(_CHECK_EVERY_S)
    return None


def _say(text: str) -> None:
    print(f"llminst: {text}", file=sys.stderr, flush=True)
