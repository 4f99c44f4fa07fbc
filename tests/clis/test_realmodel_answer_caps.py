"""The real-model benchmark's CLIs ask for short answers and end at the section's deadline:
each real CLI, launched as the ``realmodel`` section launches it, against a fake API that
records what it asks for.

SmolLM2 may never emit its end token, so every request must carry a limit no higher than
`MAX_ANSWER_TOKENS` or none (then llama-server's ``--n-predict`` caps the answer). claude sends
its own (128,000 by default), and under claude-agent-sdk it asks for a session title after the
answer: both held the section's one-slot llama-server for minutes.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from benchmarks.realmodel.clis import (
    REAL_MODEL_CLIS,
    cli_env,
    write_codex_config,
    write_llminst_config,
)
from benchmarks.realmodel.llama import MAX_ANSWER_TOKENS, LlamaServer, server_argv
from benchmarks.realmodel.section import _agent_sdk_call

from llminst._core.command import build_invocation
from llminst.configfile import load_config, resolve_models

from ..realcli.fake_anthropic import FakeAnthropic
from ..realcli.fake_openai_chat import FakeOpenAIChat
from ..realcli.fake_openai_responses import FakeResponses
from ..realcli.sse import BackgroundServer, RecordedRequest
from ..support.procs import processes_with_env

pytestmark = pytest.mark.realcli

CLI_TIMEOUT_S = 180  # a CLI's start on a loaded machine; real time is not what is tested
PROMPT = "Say hello in five words."
# The API each CLI speaks (llm 0.36's default model goes to the Responses API).
FAKES: dict[str, type[BackgroundServer]] = {
    "claude": FakeAnthropic,
    "codex": FakeResponses,
    "openai": FakeOpenAIChat,
    "llm": FakeResponses,
}
LIMIT_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens", "n_predict")


def _limit(request: RecordedRequest) -> int | None:
    """The answer's length limit a request asks for (None: it sets none)."""
    body = request.body if isinstance(request.body, dict) else {}
    limits = [int(body[key]) for key in LIMIT_FIELDS if body.get(key) is not None]
    return max(limits) if limits else None


def _generations(fake: BackgroundServer) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.method == "POST" and isinstance(r.body, dict)]


@contextmanager
def _pointed_at_fake(
    name: str, tmp_path: Path, bin_dir: Path
) -> Iterator[tuple[Any, dict[str, str]]]:
    """The fake API `name` speaks, and the section's environment pointed at it."""
    with FAKES[name]() as fake:
        server = LlamaServer(url=fake.url, log=tmp_path / "unused.log", argv=())
        home = tmp_path / "home"
        home.mkdir()
        write_codex_config(home, server)
        yield fake, cli_env(bin_dir, home, server)


@pytest.mark.parametrize("cli", REAL_MODEL_CLIS, ids=lambda cli: cli.name)
def test_each_cli_asks_for_no_longer_answer_than_the_cap(
    cli: Any, tmp_path: Path, realcli_bin: Path
) -> None:
    """The section's direct command line (the one every arm runs) asks for at most
    MAX_ANSWER_TOKENS, or sets no limit and gets llama-server's --n-predict."""
    config = write_llminst_config(tmp_path / "realmodel.toml", tmp_path / "calls.sqlite3")
    spec = resolve_models(load_config(config))[cli.model]
    with _pointed_at_fake(cli.name, tmp_path, realcli_bin) as (fake, env):
        invocation = build_invocation(spec, PROMPT, base_env=env)
        done = subprocess.run(
            list(invocation.argv),
            env=dict(invocation.env),
            input=invocation.stdin or b"",
            capture_output=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
        requests = _generations(fake)
    said = done.stderr.decode(errors="replace")[-2000:]
    assert requests, f"{cli.name} sent no request (exit {done.returncode}): {said}"
    limits = {_limit(r) for r in requests}
    assert all(limit is None or limit <= MAX_ANSWER_TOKENS for limit in limits), limits
    if None in limits:
        argv = server_argv(Path("llama-server"), Path("m.gguf"), 1)
        assert argv[argv.index("--n-predict") + 1] == str(MAX_ANSWER_TOKENS)


def test_claude_under_the_agent_sdk_asks_for_the_answer_alone(
    tmp_path: Path, realcli_bin: Path
) -> None:
    """The agent-sdk arm: one capped request for the answer, no session-title request after it
    (the server would finish evaluating that one while the next arm's call waits)."""
    with _pointed_at_fake("claude", tmp_path, realcli_bin) as (fake, env):
        answer = _agent_sdk_call(realcli_bin / "claude", env, PROMPT, CLI_TIMEOUT_S)
        requests = _generations(fake)
    assert answer.strip()
    bodies = [json.dumps(r.body) for r in requests]
    assert [_limit(r) for r in requests] == [MAX_ANSWER_TOKENS], bodies


def test_an_agent_sdk_call_past_its_deadline_gives_up_and_ends_claude(
    tmp_path: Path, realcli_bin: Path
) -> None:
    """The agent-sdk arm runs in a thread trio cannot cancel: the SDK call itself stops at the
    section's deadline (a TimeoutError, which the section reports as no answer in time) and its
    claude process ends with it."""
    slow = f"[[fake:slow=5]] {PROMPT} Take your time, word by word."
    with _pointed_at_fake("claude", tmp_path, realcli_bin) as (fake, env):
        with pytest.raises(TimeoutError):
            _agent_sdk_call(realcli_bin / "claude", env, slow, 8)
        assert _generations(fake), "claude never asked the fake"
        deadline = time.monotonic() + CLI_TIMEOUT_S
        while (left := processes_with_env("HOME", env["HOME"])) and time.monotonic() < deadline:
            time.sleep(0.1)  # the SDK ends claude on its way out; nothing to wait on but /proc
    assert left == []
