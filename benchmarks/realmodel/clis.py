"""Point the real claude, codex, openai and llm CLIs at a running `llama-server`.

This module owns what each CLI needs to talk to the local model: the environment (base URLs,
a placeholder key, a private HOME, the CLIs first on PATH, no credentials from the caller's
shell), codex's ``config.toml`` in that HOME, and the llminst config file whose models the
library and `llminst serve` use. claude keeps its built-in launch (stream-json input, as
claude-agent-sdk does) plus ``--bare --tools "" --disable-slash-commands --system-prompt``:
Claude Code's own system prompt and tools (~5,465 tokens) do not fit a small model's context.
Every CLI's answer is capped at `MAX_ANSWER_TOKENS` (a tiny model may never stop): codex, the
openai CLI and llm send no limit, so llama-server's ``--n-predict`` applies; claude sends its own
(``max_tokens: 128000``, which overrides the server's), so its environment lowers it.
It starts nothing and measures nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from llminst import BUILTIN_MODELS

from ..common import ROOT
from .llama import MAX_ANSWER_TOKENS, MODEL_ALIAS, LlamaServer

__all__ = [
    "ANSWER_CAP_ENV",
    "CLAUDE_SYSTEM_PROMPT",
    "REAL_MODEL_CLIS",
    "RealModelCli",
    "cli_env",
    "missing_clis",
    "realcli_bin",
    "write_codex_config",
    "write_llminst_config",
]

CLAUDE_SYSTEM_PROMPT = "You are a helpful assistant. Answer briefly."
CLAUDE_BARE_ARGS = (
    "--bare",  # no hooks, plugins, CLAUDE.md or auto-memory; the key only from the environment
    "--tools",
    "",
    "--disable-slash-commands",
    "--system-prompt",
    CLAUDE_SYSTEM_PROMPT,
)
# What bounds claude's requests: it sends max_tokens 128000 (2.1.331), which overrides
# llama-server's --n-predict, so SmolLM2 ran to its context's end; and run by claude-agent-sdk it
# asks for a session title after the answer (~785 prompt tokens), which the SDK's close cancels
# but the server finishes evaluating first, holding its one slot for the next call (10 s seen).
ANSWER_CAP_ENV = {
    "CLAUDE_CODE_MAX_OUTPUT_TOKENS": str(MAX_ANSWER_TOKENS),
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
}
PLACEHOLDER_KEY = "local-llama-server"  # llama-server takes any key
# Variables a developer's shell may carry that would point a CLI at a real account or API.
LEAKY_PREFIXES = ("ANTHROPIC_", "CLAUDE_", "OPENAI_", "GEMINI_", "GOOGLE_", "CODEX_", "LLM_")


@dataclass(frozen=True)
class RealModelCli:
    """One CLI: its executable and the llminst model that runs it."""

    name: str
    executable: str
    model: str


REAL_MODEL_CLIS = (
    RealModelCli("claude", "claude", "claude"),
    RealModelCli("codex", "codex", "codex"),
    RealModelCli("openai", "openai", "gpt-4"),
    RealModelCli("llm", "llm", "llm"),
)


def realcli_bin() -> Path:
    """Where tests/realcli/install.py linked the CLIs: ``$LLMINST_REALCLI_BIN``, else
    ``$LLMINST_REALCLI_CACHE/bin``, else ``.cache/realcli/bin`` in the repository."""
    if explicit := os.environ.get("LLMINST_REALCLI_BIN"):
        return Path(explicit)
    cache = os.environ.get("LLMINST_REALCLI_CACHE") or ROOT / ".cache" / "realcli"
    return Path(cache) / "bin"


def missing_clis(bin_dir: Path) -> list[str]:
    """The CLIs whose executable is not in `bin_dir`."""
    return [cli.name for cli in REAL_MODEL_CLIS if not (bin_dir / cli.executable).exists()]


def cli_env(
    bin_dir: Path, home: Path, server: LlamaServer, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """`base` (default: this process's environment) without credentials, HOME private, the
    CLIs first on PATH, every CLI pointed at `server` with a placeholder key and its answer
    capped (`ANSWER_CAP_ENV`): every arm of the benchmark runs its CLI in this environment."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.startswith(LEAKY_PREFIXES)}
    env.pop("IS_SANDBOX", None)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', os.defpath)}",
        HOME=str(home),
        ANTHROPIC_BASE_URL=server.url,
        ANTHROPIC_API_KEY=PLACEHOLDER_KEY,
        OPENAI_BASE_URL=server.openai_base_url,
        OPENAI_API_KEY=PLACEHOLDER_KEY,
        # claude refuses --dangerously-skip-permissions as root without it (containers, CI).
        IS_SANDBOX="1",
    )
    env.update(ANSWER_CAP_ENV)
    return env


def write_codex_config(home: Path, server: LlamaServer) -> Path:
    """``$HOME/.codex/config.toml`` selecting `server` over the Responses API, no retries."""
    path = home / ".codex" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        'model_provider = "llama"\n'
        f'model = "{MODEL_ALIAS}"\n'
        "[model_providers.llama]\n"
        'name = "llama-server"\n'
        f"base_url = {json.dumps(server.openai_base_url)}\n"
        'env_key = "OPENAI_API_KEY"\n'
        'wire_api = "responses"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n"
    )
    return path


def write_llminst_config(path: Path, store: Path) -> Path:
    """An llminst config: the four models on a slow CPU model (long timeouts, one call at a
    time each), claude with the bare launch, calls recorded in `store`."""
    claude = (*BUILTIN_MODELS["claude"].command, *CLAUDE_BARE_ARGS)
    lines = ["[store]", f"path = {json.dumps(str(store))}"]
    for cli in REAL_MODEL_CLIS:
        lines += [f"[models.{cli.model}]", 'timeout_category = "long"']
        if cli.name == "claude":
            lines.append(f"command = {json.dumps(list(claude))}")
    path.write_text("\n".join(lines) + "\n")
    return path
