"""The peer benchmarks (benchmarks/peers): every peer runs on the stand-in claude, and the stand-in
speaks what the real claude speaks.

The stand-in is held to recordings of the real claude 2.1.331: its one-shot output against
tests/fixtures/claude (plain and streamed) and through llminst's own decoder, its streaming-input
output against benchmarks/peers/recorded_sdk_*.jsonl (claude-agent-sdk's stdin to the real CLI and
what the CLI answered). Same records in the same order, with the same fields.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from benchmarks.peers import PEERS, STANDIN, measure_peers

from llminst._core.decoders import make_decoder
from llminst._core.events import FinalResult, TextDelta
from llminst._core.spec import OutputFormat

from ..support.recordings import CLAUDE_FIXTURES

RECORDED = STANDIN.parent
ONE_SHOT = ["-p", "--dangerously-skip-permissions", "--output-format", "stream-json", "--verbose"]
# What claude-agent-sdk passes with default options (see recorded_sdk_stdin.jsonl for its input).
SDK_ARGS = ["--output-format", "stream-json", "--verbose", "--system-prompt", "", "--input-format"]
PACKAGES = {
    "llminst (Python API)": "llminst",
    "claude-agent-sdk query()": "claude_agent_sdk",
    "cc_executor-style WebSocket": "websockets",
}


def run_standin(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(STANDIN), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=False,
    )


def records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def shape(record: dict[str, Any]) -> tuple[Any, ...]:
    """What a consumer keys on: kind, subtype or event type, and the set of fields."""
    event = record.get("event") or {}
    response = record.get("response") or {}
    inner = response.get("response") or {}
    return (
        record.get("type"),
        record.get("subtype"),
        event.get("type"),
        frozenset(record),
        frozenset(record.get("message") or {}),
        frozenset(event),
        frozenset(response),
        frozenset(inner) if isinstance(inner, dict) else None,
    )


def shapes(recs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The shapes in order, runs of text deltas counted once (their number follows the text)."""
    out: list[tuple[Any, ...]] = []
    for rec in recs:
        current = shape(rec)
        if out and current == out[-1] and current[2] == "content_block_delta":
            continue
        out.append(current)
    return out


def decode(stdout: str) -> tuple[str, list[FinalResult]]:
    decoder = make_decoder(OutputFormat.CLAUDE_STREAM_JSON)
    events = decoder.feed(stdout.encode()) + decoder.close()
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    return text, [e for e in events if isinstance(e, FinalResult)]


@pytest.mark.parametrize(
    ("fixture", "extra"),
    [("plain.jsonl", []), ("stream.jsonl", ["--include-partial-messages"])],
)
def test_standin_one_shot_matches_real_claude(fixture: str, extra: list[str]) -> None:
    """One-shot output: the real claude's records and fields, decoded by llminst to the answer."""
    real = records((CLAUDE_FIXTURES / fixture).read_text())
    prompt = real[-1]["result"].removeprefix("Echo: ")
    done = run_standin(*ONE_SHOT, *extra, "--", prompt)
    assert done.returncode == 0, done.stderr
    mine = records(done.stdout)
    assert shapes(mine) == shapes(real)

    text, finals = decode(done.stdout)
    real_text, real_finals = decode((CLAUDE_FIXTURES / fixture).read_text())
    assert text == real_text == f"Echo: {prompt}"
    assert [f.text for f in finals] == [f.text for f in real_finals] == [text]
    final = finals[0]
    assert not final.is_error and final.subtype == "success"
    assert final.session_id == mine[0]["session_id"]
    assert final.usage is not None and final.cost_usd is not None


def test_standin_reads_the_prompt_from_stdin() -> None:
    """No prompt argument: the prompt is stdin (llminst's fallback for large prompts)."""
    done = run_standin(*ONE_SHOT, stdin="from stdin")
    assert done.returncode == 0, done.stderr
    assert decode(done.stdout)[0] == "Echo: from stdin"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "--output-format", "stream-json", "x"], "requires --verbose"),
        (["-p", "--no-such-flag", "x"], "unknown option '--no-such-flag'"),
        (["-p", "--output-format", "stream-json", "--verbose"], "Input must be provided"),
    ],
)
def test_standin_refuses_what_claude_refuses(args: list[str], message: str) -> None:
    done = run_standin(*args)
    assert done.returncode == 1 and message in done.stderr
    assert done.stdout == ""


def test_standin_streaming_input_matches_real_claude() -> None:
    """The SDK's stdin, recorded, gets the real CLI's recorded answer: control_response to
    initialize, session states (asked for by the SDK's variable), init, assistant, result."""
    sent = (RECORDED / "recorded_sdk_stdin.jsonl").read_text()
    real = records((RECORDED / "recorded_sdk_stdout.jsonl").read_text())
    done = run_standin(
        *SDK_ARGS, "stream-json", stdin=sent, env={"CLAUDE_CODE_SDK_READS_SESSION_STATE": "1"}
    )
    assert done.returncode == 0, done.stderr
    mine = records(done.stdout)
    assert shapes(mine) == shapes(real)
    request_id = json.loads(sent.splitlines()[0])["request_id"]
    assert mine[0]["response"]["request_id"] == request_id
    assert mine[0]["response"]["response"]["claude_code_version"] == "2.1.331"
    assert mine[-2]["result"] == real[-2]["result"] == "Echo: hello from sdk"
    assert decode(done.stdout)[0] == "Echo: hello from sdk"


def test_measure_peers_smoke() -> None:
    """Every installed peer answers correctly on the stand-in and gets 3 timings; a peer is
    unavailable only when its package is genuinely missing, and then says so."""
    entries = measure_peers(calls=3, smoke=True)
    assert [e["name"] for e in entries] == [name for _, name in PEERS]
    for entry in entries:
        assert set(entry) == {"name", "unavailable", "per_call_ms", "rss_mb", "notes"}
        installed = importlib.util.find_spec(PACKAGES[entry["name"]]) is not None
        if not installed:
            assert entry["unavailable"] and "not installed" in entry["unavailable"]
            assert entry["per_call_ms"] is None and entry["rss_mb"] is None
            continue
        assert entry["unavailable"] is None, entry
        times = entry["per_call_ms"]
        assert len(times) == 3 and all(t > 0 for t in times), entry
        if sys.platform == "linux":
            assert entry["rss_mb"] is not None and entry["rss_mb"] > 0, entry
        assert entry["notes"]
