"""The supervisor against real processes: output, streaming, timeouts, kills, retries, limits."""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import resource
import sys
import time
from pathlib import Path

import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from llminst import (
    AttemptStarted,
    BackoffPolicy,
    CallResult,
    CallTimeoutError,
    CLINotFoundError,
    CredentialsMissingError,
    JSONNotFoundError,
    JSONSchemaMismatchError,
    LLMError,
    ModelSpec,
    OutputFormat,
    ProcessFailedError,
    RateLimitedError,
    RetryScheduled,
    Settings,
    Supervisor,
    UnknownModelError,
    open_supervisor,
)

from ..support.clocks import next_deadline_in, real_time_limit
from ..support.models import models_with
from ..support.procs import fd_count, is_alive, read_pids, wait_for_pids

FAST_BACKOFF = BackoffPolicy(initial_s=0.01, maximum_s=0.05, multiplier=2.0, jitter_s=0.0)


async def test_echo_answers_with_the_prompt() -> None:
    """The built-in echo model answers with the prompt and reports a complete result."""
    async with open_supervisor() as sup:
        result = await sup.run("echo", "hello world")
    assert result.output == "hello world"
    assert result.success and result.exit_code == 0 and result.attempts == 1
    assert result.timeout_category == "quick" and result.timeout_s == 60
    assert result.error is None and not result.truncated


async def test_first_chunk_arrives_long_before_the_process_ends() -> None:
    """Streaming delivers text as the CLI writes it, not at exit."""
    async with open_supervisor() as sup:
        start = trio.current_time()
        arrivals: list[tuple[float, str]] = []
        async with sup.open_stream("echo", "[[echo:delay=0.3]] a b c d e") as stream:
            async for chunk in stream:
                arrivals.append((trio.current_time() - start, chunk))
        end = trio.current_time() - start
    assert "".join(c for _, c in arrivals) == stream.result.output
    assert len(arrivals) >= 4
    assert arrivals[0][0] < end - 0.6, arrivals


async def test_timeout_kills_the_whole_tree_and_keeps_partial_output(fake_spec, pidfile) -> None:
    """A hanging CLI with a background grandchild: timeout, partial output, no process left."""
    spec = fake_spec("hang-tree")
    async with open_supervisor(
        models=models_with(spec), settings=Settings(grace_period_s=1)
    ) as sup:
        with pytest.raises(CallTimeoutError) as info:
            await sup.run("fake", "hi", timeout=1.0)
    pids = read_pids(pidfile)
    assert len(pids) == 2
    assert not [p for p in pids if is_alive(p)]
    err = info.value
    assert err.timeout_s == 1.0
    assert err.partial_output == "started\n"
    assert "timed out after 1 s" in str(err) and "partial output" in str(err)
    assert err.result is not None and err.result.success is False


async def test_cli_ignoring_sigterm_dies_at_sigkill_after_the_grace(fake_spec, pidfile) -> None:
    """SIGTERM, the grace period, then SIGKILL: the call ends about one grace after the deadline."""
    spec = fake_spec("ignore-term")
    settings = Settings(grace_period_s=0.5)
    async with open_supervisor(models=models_with(spec), settings=settings) as sup:
        with capture_logs() as logs:
            start = trio.current_time()
            with pytest.raises(CallTimeoutError):
                await sup.run("fake", "hi", timeout=0.5)
            elapsed = trio.current_time() - start
    assert 0.9 <= elapsed < 2.5
    signals = [e["signal"] for e in logs if e["event"] == "llminst.process.killed"]
    assert signals == ["SIGTERM", "SIGKILL"]
    assert not [p for p in read_pids(pidfile) if is_alive(p)]


async def test_cancelling_the_caller_kills_the_tree(fake_spec, pidfile) -> None:
    """Cancelling the caller's scope reaps the process tree before control returns."""
    spec = fake_spec("hang-tree")
    async with open_supervisor(models=models_with(spec)) as sup:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(sup.run, "fake", "hi")
                # Cancel once the tree is in place (a fixed delay lost that race under load).
                await wait_for_pids(pidfile, 2, within_s=60)
                scope.cancel()
        assert scope.cancelled_caught
        pids = read_pids(pidfile)
        assert pids and not [p for p in pids if is_alive(p)]


async def test_breaking_out_of_a_stream_kills_the_tree(fake_spec, pidfile) -> None:
    """Leaving open_stream early (a consumer that stops reading) kills the call."""
    spec = fake_spec("hang-tree")
    async with open_supervisor(models=models_with(spec)) as sup:
        async with sup.open_stream("fake", "hi") as stream:
            async for chunk in stream:
                assert chunk == "started\n"
                break
        pids = read_pids(pidfile)
        assert len(pids) == 2 and not [p for p in pids if is_alive(p)]
        assert stream.error is not None and "cancelled" in str(stream.error)


async def test_leaving_the_supervisor_kills_every_running_call(fake_spec, pidfile) -> None:
    """Closing the supervisor terminates all calls; their callers get an LLMError."""
    spec = fake_spec("hang-tree")
    errors: list[BaseException] = []

    async def call(sup) -> None:
        try:
            await sup.run("fake", "hi")
        except LLMError as exc:
            errors.append(exc)

    async with trio.open_nursery() as outer:
        async with open_supervisor(models=models_with(spec)) as sup:
            for _ in range(3):
                outer.start_soon(call, sup)
            pids = await wait_for_pids(pidfile, 6)
        assert not [p for p in pids if is_alive(p)]
    assert len(errors) == 3
    assert all("shut down" in str(e) for e in errors)


async def test_rate_limited_twice_then_succeeds(echo_state) -> None:
    """Two rate-limit failures are retried with backoff; the third attempt answers."""
    prompt = "[[echo:rate-limit=2]] hello"
    async with open_supervisor(backoff=FAST_BACKOFF) as sup:
        with capture_logs() as logs:
            result = await sup.run("echo", prompt)
    assert result.success and result.attempts == 3 and result.output == "hello"
    waits = [e["wait_s"] for e in logs if e["event"] == "llminst.retry.scheduled"]
    assert waits == [0.01, 0.02]


async def run_across_backoff(
    sup: Supervisor, clock: trio.testing.MockClock, prompt: str
) -> tuple[CallResult, list[float], list[float]]:
    """Run `prompt` on a frozen virtual clock that moves only across each backoff sleep, in two
    steps: to just short of the planned wait (the call must still be asleep, due to wake exactly
    then), then to its end. Returns the result, the planned waits and the virtual time from each
    retry being scheduled to the next attempt's start."""
    planned: list[float] = []
    waited: list[float] = []
    scheduled_at = 0.0
    async with real_time_limit(120), sup.open_stream("echo", prompt, timeout=600) as stream:
        async for event in stream.events():
            if isinstance(event, AttemptStarted) and event.attempt > 1:
                waited.append(trio.current_time() - scheduled_at)
            if not isinstance(event, RetryScheduled):
                continue
            planned.append(event.delay_s)
            scheduled_at = trio.current_time()
            # Asleep in its backoff, the call wakes at the next deadline: the planned wait away.
            await trio.testing.wait_all_tasks_blocked()
            assert next_deadline_in() == pytest.approx(event.delay_s, abs=1e-6)
            clock.jump(event.delay_s - 0.001)
            await trio.testing.wait_all_tasks_blocked()
            assert next_deadline_in() == pytest.approx(0.001, abs=1e-6)  # still asleep
            clock.jump(0.001)
        result = await stream.wait()
    return result, planned, waited


async def test_backoff_waits_exactly_the_planned_time(
    echo_state, mock_clock: trio.testing.MockClock
) -> None:
    """On a virtual clock: each retry starts exactly its backoff wait after the rate-limited
    attempt (initial_s, then initial_s * multiplier), not a moment before; the call's duration
    includes the waits."""
    policy = BackoffPolicy(initial_s=20.0, maximum_s=100.0, multiplier=2.0, jitter_s=0.0)
    async with open_supervisor(backoff=policy) as sup:
        result, planned, waited = await run_across_backoff(
            sup, mock_clock, "[[echo:rate-limit=2]] hello"
        )
    assert result.success and result.attempts == 3 and result.output == "hello"
    assert planned == [20.0, 40.0]
    assert waited == [pytest.approx(20.0), pytest.approx(40.0)]
    assert result.duration_s == pytest.approx(60.0, abs=0.01)


async def test_retry_hint_is_honoured(echo_state, mock_clock: trio.testing.MockClock) -> None:
    """A 'retry after N seconds' hint in the output sets the wait (on a virtual clock: the next
    attempt starts exactly N s later, far beyond the backoff's 0.05 s maximum)."""
    async with open_supervisor(backoff=FAST_BACKOFF) as sup:
        start = trio.current_time()
        result, planned, waited = await run_across_backoff(
            sup, mock_clock, "[[echo:rate-limit=1]] [[echo:retry-after=45]] hi"
        )
        elapsed = trio.current_time() - start
    assert result.attempts == 2
    assert elapsed >= 45
    assert planned == [45.0] and waited == [pytest.approx(45.0)]


async def test_reset_after_the_deadline_fails_at_once(
    echo_state, mock_clock: trio.testing.MockClock
) -> None:
    """A limit that resets after the call's deadline fails fast and says when it resets (on a
    frozen virtual clock: without sleeping at all)."""
    async with open_supervisor(backoff=FAST_BACKOFF) as sup:
        start = time.time()
        virtual_start = trio.current_time()
        with pytest.raises(RateLimitedError) as info:
            async with real_time_limit(120):
                await sup.run("echo", "[[echo:rate-limit=5]] [[echo:reset-in=3600]] hi", timeout=30)
        elapsed = time.time() - start
    assert elapsed < 5
    assert trio.current_time() == virtual_start
    assert info.value.reset_at == pytest.approx(start + 3600, abs=5)
    assert "reset" in str(info.value).lower()
    assert info.value.result is not None and info.value.result.attempts == 1


async def test_rate_limit_gives_up_after_max_attempts(echo_state) -> None:
    """max_attempts bounds the retries; the error names the limit."""
    async with open_supervisor(backoff=FAST_BACKOFF) as sup:
        with pytest.raises(RateLimitedError) as info:
            await sup.run("echo", "[[echo:rate-limit=9]] hi")
    assert info.value.result is not None and info.value.result.attempts == 3
    assert "429" in str(info.value)


async def test_nonzero_exit_reports_code_and_stderr() -> None:
    """A failing CLI gives ProcessFailedError with its exit code and stderr tail."""
    async with open_supervisor() as sup:
        with pytest.raises(ProcessFailedError) as info:
            await sup.run("echo", "[[echo:exit=3]] boom")
    assert info.value.exit_code == 3
    assert "exited with code 3" in str(info.value)
    assert "failing with exit code 3" in info.value.stderr_tail


async def test_missing_credentials_are_reported_with_the_fix() -> None:
    """An auth failure is a CredentialsMissingError naming the fix, not a generic failure."""
    import os

    env = {**os.environ, "LLMINST_ECHO_LOGGED_OUT": "1"}
    async with open_supervisor(base_env=env) as sup:
        with pytest.raises(CredentialsMissingError) as info:
            await sup.run("echo", "hi")
    assert "LLMINST_ECHO_LOGGED_OUT" in str(info.value)


async def test_missing_executable_and_unknown_model() -> None:
    """Errors before any process starts name the cause and the fix."""
    from llminst import ModelSpec

    ghost = ModelSpec(name="ghost", command=("no-such-cli-xyz",), install_hint="pip install ghost")
    async with open_supervisor(models=models_with(ghost)) as sup:
        with pytest.raises(CLINotFoundError, match="pip install ghost"):
            await sup.run("ghost", "hi")
        with pytest.raises(UnknownModelError, match=r"known models: .*echo"):
            await sup.run("nope", "hi")


async def test_not_executable_is_a_clear_error(tmp_path: Path) -> None:
    """A command that exists but cannot be executed says so (chmod +x)."""
    from llminst import ModelSpec

    script = tmp_path / "cli.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    spec = ModelSpec(name="noexec", command=(str(script),))
    async with open_supervisor(models=models_with(spec)) as sup:
        with pytest.raises(LLMError, match=r"chmod|not found"):
            await sup.run("noexec", "hi")


async def test_running_out_of_descriptors_names_the_limit_and_the_fix() -> None:
    """EMFILE at spawn is a process_failed error that names the descriptor limit and the fix."""
    from llminst import ModelSpec

    spec = ModelSpec(name="t", command=("true",))
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    async with open_supervisor(models=models_with(spec)) as sup:
        hog = []
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (fd_count() + 8, saved[1]))
            with contextlib.suppress(OSError):
                while True:
                    hog.append(os.open("/dev/null", os.O_RDONLY))
            with pytest.raises(ProcessFailedError, match=r"Too many open files.*ulimit -n"):
                await sup.run("t", "hi")
        finally:
            for fd in hog:
                os.close(fd)
            resource.setrlimit(resource.RLIMIT_NOFILE, saved)
        assert (await sup.run("t", "hi")).exit_code == 0


async def test_the_child_gets_the_configured_environment_and_working_directory(
    tmp_path: Path,
) -> None:
    """The child's environment is the base minus env_remove plus env; its cwd is the spec's."""
    from llminst import ModelSpec

    spec = ModelSpec(
        name="show",
        command=("/bin/sh", "-c", 'pwd; env | LC_ALL=C sort; echo "prompt=$0"'),
        env={"ADDED": "yes"},
        env_remove=("DROP_ME",),
        cwd=str(tmp_path),
    )
    base = {"PATH": os.environ["PATH"], "DROP_ME": "s3cr3t", "KEEP_ME": "1"}
    async with open_supervisor(models=models_with(spec), base_env=base) as sup:
        lines = (await sup.run("show", "hi")).output.splitlines()
    assert lines[0] == str(tmp_path)
    assert "ADDED=yes" in lines and "KEEP_ME=1" in lines and "prompt=hi" in lines
    assert not any(line.startswith("DROP_ME=") for line in lines)
    assert not any(line.startswith("HOME=") for line in lines)  # nothing beyond the base


async def test_huge_output_is_truncated_with_bounded_memory(fake_spec) -> None:
    """200 MB of output with a 1 MB cap keeps 1 MB, flags truncation and does not grow memory."""
    spec = fake_spec("flood", str(200 * 1024 * 1024))
    settings = Settings(max_output_bytes=1024 * 1024)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    async with open_supervisor(models=models_with(spec), settings=settings) as sup:
        result = await sup.run("fake", "hi", timeout=60)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert result.truncated and result.success
    assert len(result.output) == 1024 * 1024
    assert grown_kb < 64 * 1024, f"RSS grew by {grown_kb} KiB"


async def test_invalid_utf8_and_nul_bytes_are_replaced_not_raised(fake_spec) -> None:
    """Invalid UTF-8 becomes U+FFFD; NUL bytes pass through; nothing raises."""
    spec = fake_spec("bytes", (b"ok \xff\xfe \x00 end \xe2\x82").hex())
    async with open_supervisor(models=models_with(spec)) as sup:
        result = await sup.run("fake", "hi")
    assert result.output == "ok \ufffd\ufffd \x00 end \ufffd"


PROMPTS = [
    "plain",
    'it\'s "quoted" and `back-ticked`',
    "$(touch /tmp/llminst-pwned) ; rm -rf / && echo $HOME",
    "line one\nline two\r\nthree\ttabs",
    "-v --help",
    "--",
    "emoji 🙂 and ñ and 中文",
    "",
    "x" * 200_000,
]


@pytest.mark.parametrize("prompt", PROMPTS, ids=lambda p: repr(p[:20]))
async def test_prompt_reaches_the_cli_byte_for_byte(fake_spec, prompt: str) -> None:
    """Quotes, shell syntax, newlines, leading dashes and 200 KB prompts arrive intact."""
    spec = fake_spec("dump", prompt_separator="--", stdin_fallback=True)
    async with open_supervisor(models=models_with(spec)) as sup:
        result = await sup.run("fake", prompt)
    dumped = json.loads(result.output)
    if len(prompt.encode()) > spec.argv_prompt_limit:
        assert dumped["argv"] == []
        assert base64.b64decode(dumped["stdin"]) == prompt.encode()
    else:
        assert dumped["argv"] == [prompt]
        assert dumped["stdin"] == ""
    assert not Path("/tmp/llminst-pwned").exists()  # noqa: ASYNC240


async def test_stdin_prompt_mode(fake_spec) -> None:
    """prompt_mode=stdin writes the prompt to stdin and closes it."""
    from llminst import PromptMode

    spec = fake_spec("dump", prompt_mode=PromptMode.STDIN)
    async with open_supervisor(models=models_with(spec)) as sup:
        result = await sup.run("fake", "via stdin\n")
    dumped = json.loads(result.output)
    assert dumped["argv"] == [] and base64.b64decode(dumped["stdin"]) == b"via stdin\n"


# Records its PID, waits until the file named by its first argument exists, answers.
_GATED = (
    "import os, sys, time\n"
    "open(os.environ['FAKECLI_PIDFILE'], 'a').write(f'{os.getpid()}\\n')\n"
    "while not os.path.exists(sys.argv[1]): time.sleep(0.01)\n"
    "print('ok')\n"
)


async def test_per_model_concurrency_limit(tmp_path: Path, pidfile: Path) -> None:
    """max_concurrency=2: of four calls two run while two wait, and all four complete.

    Counted by the processes that exist, not by wall time, so a loaded machine cannot fail it.
    """
    gate = tmp_path / "open"
    gated = ModelSpec(
        name="gated",
        command=(sys.executable, "-c", _GATED, str(gate)),
        env={"FAKECLI_PIDFILE": str(pidfile)},
        max_concurrency=2,
    )
    results = []
    async with open_supervisor(models=models_with(gated)) as sup:

        async def call() -> None:
            results.append(await sup.run("gated", "x", timeout=300))

        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(call)
            first = await wait_for_pids(pidfile, 2)
            await trio.sleep(0.5)  # a broken limit would start the others meanwhile
            assert read_pids(pidfile) == first
            assert sup.running() == {"gated": 4}
            gate.touch()
    assert [r.output for r in results] == ["ok\n"] * 4
    assert len(read_pids(pidfile)) == 4


async def test_concurrent_calls_run_in_parallel(fake_spec, pidfile) -> None:
    """Ten calls run at the same time: all ten processes are alive at once."""
    spec = fake_spec("hang", max_concurrency=10)
    async with open_supervisor(models=models_with(spec)) as sup, trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(functools.partial(sup.run, "fake", "x", timeout=300))
        pids = await wait_for_pids(pidfile, 10, within_s=60)
        assert all(is_alive(p) for p in pids)
        nursery.cancel_scope.cancel()
    assert not [p for p in read_pids(pidfile) if is_alive(p)]


async def test_json_mode_default_schema() -> None:
    """JSON mode adds instructions, extracts and validates the answer into parsed_json."""
    async with open_supervisor() as sup:
        result = await sup.run("echo", "What is 2+2?", json_mode=True)
    assert result.parsed_json == {"question": "What is 2+2?", "answer": "echo: What is 2+2?"}


async def test_json_mode_custom_schema() -> None:
    """A custom schema given as JSON text is used for instructions and validation."""
    schema = json.dumps(
        {
            "type": "object",
            "properties": {"n": {"type": "integer"}, "ok": {"type": "boolean"}},
            "required": ["n", "ok"],
        }
    )
    async with open_supervisor() as sup:
        result = await sup.run("echo", "count", json_mode=True, json_schema=schema)
    assert result.parsed_json == {"n": 0, "ok": True}


async def test_json_mode_failures_keep_the_raw_output(fake_spec) -> None:
    """No JSON, or JSON of the wrong shape, fails with the raw output kept."""
    prose = fake_spec("say", "I cannot answer in JSON, sorry.", name="prose")
    wrong = fake_spec("say", '{"question": 1}', name="wrong")
    async with open_supervisor(models=models_with(prose, wrong)) as sup:
        with pytest.raises(JSONNotFoundError) as not_found:
            await sup.run("prose", "q", json_mode=True)
        with pytest.raises(JSONSchemaMismatchError) as mismatch:
            await sup.run("wrong", "q", json_mode=True)
    assert not_found.value.raw_output == "I cannot answer in JSON, sorry."
    assert not_found.value.result is not None and not_found.value.result.success is False
    assert mismatch.value.raw_output == '{"question": 1}'


def _claude_transcript(tmp_path: Path, *, is_error: bool = False, result_text: str = "Hi!") -> str:
    lines = [
        {"type": "system", "subtype": "init", "session_id": "s-1", "model": "claude-x"},
        {
            "type": "assistant",
            "message": {"id": "m1", "content": [{"type": "text", "text": "Hi!"}]},
            "session_id": "s-1",
        },
        {
            "type": "result",
            "subtype": "error_during_execution" if is_error else "success",
            "is_error": is_error,
            "result": result_text,
            "session_id": "s-1",
            "total_cost_usd": 0.0123,
            "usage": {"input_tokens": 10, "output_tokens": 3},
        },
    ]
    path = tmp_path / "transcript.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


async def test_claude_stream_json_result_fields(fake_spec, tmp_path: Path) -> None:
    """A claude-style stream-json transcript yields text, usage, cost and session id."""
    spec = fake_spec(
        "claude", _claude_transcript(tmp_path), output_format=OutputFormat.CLAUDE_STREAM_JSON
    )
    async with open_supervisor(models=models_with(spec)) as sup:
        result = await sup.run("fake", "hi")
    assert result.output == "Hi!"
    assert result.cost_usd == pytest.approx(0.0123)
    assert result.session_id == "s-1"
    assert result.usage == {"input_tokens": 10, "output_tokens": 3}


async def test_claude_is_error_fails_despite_exit_zero(fake_spec, tmp_path: Path) -> None:
    """is_error: true in the result line is a failure even when the exit code is 0."""
    path = _claude_transcript(tmp_path, is_error=True, result_text="API Error: 500 boom")
    spec = fake_spec("claude", path, output_format=OutputFormat.CLAUDE_STREAM_JSON)
    async with open_supervisor(models=models_with(spec)) as sup:
        with pytest.raises(ProcessFailedError) as info:
            await sup.run("fake", "hi")
    assert info.value.exit_code == 0
    assert "API Error: 500 boom" in str(info.value)


async def test_a_broken_log_stream_never_breaks_or_hangs_a_call() -> None:
    """Regression: a log line to a closed stderr raised in the call's cleanup and hung its caller."""
    import os

    from llminst import configure_logging

    read_end, write_end = os.pipe()
    os.close(read_end)
    broken = os.fdopen(write_end, "w")
    try:
        configure_logging(level="debug", stream=broken)
        async with open_supervisor() as sup:
            with trio.fail_after(10):
                result = await sup.run("echo", "still answers")
        assert result.output == "still answers"
    finally:
        configure_logging(level="debug")
        with contextlib.suppress(OSError):
            broken.close()
