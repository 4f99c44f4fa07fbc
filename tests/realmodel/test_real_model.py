"""Each real CLI answers a real prompt from a real model, through `llminst run` and over MCP.

claude, codex, the openai CLI and llm run against llama.cpp's `llama-server` serving
SmolLM2-135M on 127.0.0.1 (see conftest.py). The model is tiny: the tests assert the shape of an
answer (non-empty text, a clean exit, the call recorded), never its words.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks.realmodel.clis import REAL_MODEL_CLIS, RealModelCli
from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.realmodel

PROMPT = "Name one colour."
CALL_TIMEOUT_S = 300  # a CPU model on a busy machine: generous, real time is not the point here
CLIS = {cli.name: cli for cli in REAL_MODEL_CLIS}


def _llminst(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "llminst.cli", "--config", str(config), *args]


@pytest.mark.parametrize("name", list(CLIS))
def test_llminst_run_prints_the_models_answer(
    name: str, model_env: dict[str, str], model_config: Path
) -> None:
    """`llminst run MODEL PROMPT`: exit 0, the answer (non-empty text) alone on stdout."""
    cli: RealModelCli = CLIS[name]
    argv = _llminst(model_config, "run", cli.model, PROMPT, "--timeout", str(CALL_TIMEOUT_S))
    done = subprocess.run(
        argv, env=model_env, capture_output=True, text=True, timeout=CALL_TIMEOUT_S + 60
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = done.stdout.strip()
    assert answer and not answer.startswith("{"), done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("name", list(CLIS))
async def test_execute_llm_over_stdio_returns_the_models_answer(
    name: str, model_env: dict[str, str], model_config: Path
) -> None:
    """`execute_llm` on `llminst serve` over stdio: a result with non-empty text output and the
    CLI's clean exit."""
    cli = CLIS[name]
    params = StdioServerParameters(
        command=sys.executable, args=_llminst(model_config, "serve")[1:], env=model_env
    )
    async with Client(params) as client:
        args = {"model": cli.model, "prompt": PROMPT, "timeout": CALL_TIMEOUT_S}
        result = await client.call_tool("execute_llm", args)
    content = result.structured_content or {}
    assert not result.is_error, result.content
    assert isinstance(content.get("output"), str) and content["output"].strip(), content
    assert content.get("exit_code") == 0, json.dumps(content)[:2000]
