"""A store whose server cannot be reached for a while (Redis restarted or down) costs no answer
and no record: writes wait at the head of the queue and reach the store in order once it is
back, with one ``llminst.store.degraded`` and one ``llminst.store.recovered`` line. Real echo
processes through a real supervisor; the store is the in-memory one behind a switch that makes
every write raise ConnectionError, as a client whose server went away does."""

from __future__ import annotations

import trio
import trio.testing
from structlog.testing import capture_logs

from llminst import open_supervisor
from llminst._core.records import CallState
from llminst.supervisor.recorder import CLOSE_RETRY_S

from ..support.unreachable import UnreachableStore


async def test_calls_written_while_the_store_was_down_arrive_when_it_is_back() -> None:
    store = UnreachableStore()
    store.down = True
    with capture_logs() as logs:
        async with open_supervisor(store=store) as sup:
            first = await sup.run("echo", "while down one")
            second = await sup.run("echo", "[[echo:delay=0.01]] while down two")
            await sup.flushed()  # returns at once: nobody can read a degraded store anyway
            assert sup.store_health.degraded and await store.list_calls() == []
            store.down = False
            with trio.fail_after(60):
                while sup.store_health.degraded:  # noqa: ASYNC110 - the flag has no event
                    await trio.sleep(0.05)
            await sup.flushed()
            records = {r.prompt: r for r in await store.list_calls()}
    assert first.output == "while down one" and second.output == "while down two"
    assert set(records) == {"while down one", "[[echo:delay=0.01]] while down two"}
    for record, result in [
        (records["while down one"], first),
        (records["[[echo:delay=0.01]] while down two"], second),
    ]:
        assert record.state is CallState.SUCCEEDED
        assert await store.read_output(record.call_id) == result.output
        assert record.output_chars == len(result.output)
    events = [entry["event"] for entry in logs]
    assert events.count("llminst.store.degraded") == 1
    assert events.count("llminst.store.recovered") == 1
    assert "llminst.store.write_failed" not in events
    assert store.failures > 1  # tried again, not dropped


async def test_closing_gives_an_unreachable_store_a_bounded_time(
    mock_clock: trio.testing.MockClock,
) -> None:
    """A store still down when the supervisor closes: the close waits CLOSE_RETRY_S, then the
    writes are dropped with a line each, and the block is left. (Virtual time runs 100 times
    faster than real time: the close takes ~0.1 s; the call's day-long timeout cannot fire.)"""
    mock_clock.rate = 100
    store = UnreachableStore()
    store.down = True
    with capture_logs() as logs, trio.fail_after(3600):  # virtual: ~36 s of real time
        async with open_supervisor(store=store) as sup:
            await sup.run("echo", "nobody will know", timeout=86_400)
            closing_at = trio.current_time()
    assert CLOSE_RETRY_S <= trio.current_time() - closing_at < CLOSE_RETRY_S + 60
    assert [e for e in logs if e["event"] == "llminst.store.write_failed"]
