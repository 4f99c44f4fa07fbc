"""The built-in models: the specs of the CLIs llminst knows out of the box, and shared patterns.

Each spec records what was measured on the real CLI (how it takes the prompt, its output format,
its exit codes and messages for rate limits, missing credentials and an unreachable API) in
comments beside the value. Pure data: this module never runs a CLI or reads the environment; the
only thing it reads is `sys.executable`, so the echo model runs under the current interpreter.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from .spec import (
    EXECUTABLE_PLACEHOLDER,
    GENERIC_UNREACHABLE_PATTERNS,
    HISTORY_PLACEHOLDER,
    PROMPT_PLACEHOLDER,
    RESUME_PLACEHOLDER,
    SCHEMA_PLACEHOLDER,
    SESSION_ID_PLACEHOLDER,
    SUBMODEL_PLACEHOLDER,
    SYSTEM_ARGS_PLACEHOLDER,
    SYSTEM_PROMPT_PLACEHOLDER,
    ModelSpec,
    OutputFormat,
    PromptMode,
)
from .timeouts import TimeoutCategory

__all__ = ["BUILTIN_MODELS", "GENERIC_RATE_LIMIT_PATTERNS"]

# Common wording CLIs and APIs use for rate and usage limits.
GENERIC_RATE_LIMIT_PATTERNS = (
    r"rate[ _-]?limit",
    r"too many requests",
    r"\b429\b",
    r"quota exceeded",
    r"resource[ _]exhausted",
    r"usage limit",
    r"overloaded",
)


def _python_module(module: str) -> tuple[str, ...]:
    return (sys.executable, "-m", module)


# What the built-in CLIs answer cheaply and offline (a custom model gets no version command).
_VERSION_FLAG = (EXECUTABLE_PLACEHOLDER, "--version")


BUILTIN_MODELS: Mapping[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="echo",
            command=(*_python_module("llminst.echo"),),
            prompt_separator="--",
            stdin_fallback=True,
            stream_args=("--stream",),
            timeout_category=TimeoutCategory.QUICK,
            rate_limit_patterns=GENERIC_RATE_LIMIT_PATTERNS,
            auth_patterns=(r"echo: not logged in",),
            auth_hint="unset LLMINST_ECHO_LOGGED_OUT",
            version_command=(*_python_module("llminst.echo"), "--version"),
            max_concurrency=64,
        ),
        ModelSpec(
            name="claude",
            # Launched as claude-agent-sdk does (no -p): an initialize request and the prompt as
            # a user message on stdin. 60-100 ms faster a call than any -p form (2.1.197), and
            # the prompt never touches argv (no 128 KiB limit, nothing in `ps`).
            command=(
                "claude",
                "--dangerously-skip-permissions",
                "--output-format",
                "stream-json",
                "--verbose",
                "--input-format",
                "stream-json",
            ),
            prompt_mode=PromptMode.STREAM_JSON,
            stream_args=("--include-partial-messages",),
            json_schema_args=("--json-schema", SCHEMA_PLACEHOLDER),
            # Appended to Claude Code's own system prompt (--system-prompt would replace it,
            # and with it the tool instructions an agentic call needs).
            system_prompt_args=("--append-system-prompt", SYSTEM_PROMPT_PLACEHOLDER),
            submodel_args=("--model", SUBMODEL_PLACEHOLDER),
            # Each conversation is saved under $HOME/.claude/projects/<cwd>; --resume ID (the
            # result line's session_id) continues it, sending the earlier messages again.
            resume_args=("--resume", SESSION_ID_PLACEHOLDER),
            output_format=OutputFormat.CLAUDE_STREAM_JSON,
            # claude retries API errors itself (10 times, up to 40 s apart); llminst retries
            # rate limits, so claude keeps one quick retry for transient errors only.
            env={"CLAUDE_CODE_MAX_RETRIES": "1"},
            credential_env=("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"),
            rate_limit_patterns=(
                *GENERIC_RATE_LIMIT_PATTERNS,
                r"claude ai usage limit reached",
                # "You've hit your limit · resets 1am"; 2.1.331 names the limit: "You've hit
                # your 5-hour limit · resets 2:21pm (UTC)" (also weekly, Opus, ...).
                r"you've hit your (?:[\w-]{1,20} ){0,2}limit",
            ),
            auth_patterns=(r"not logged in", r"invalid api key", r"please run /login"),
            auth_hint=(
                "set ANTHROPIC_API_KEY for the server, or log in once by running `claude` and "
                "typing /login (`claude setup-token` makes a token for CLAUDE_CODE_OAUTH_TOKEN)"
            ),
            unreachable_hint=(
                "check the network, ANTHROPIC_BASE_URL (when set) and any proxy (HTTPS_PROXY)"
            ),
            error_hints={
                r"dangerously-skip-permissions cannot be used with root": (
                    "claude refuses --dangerously-skip-permissions as root unless IS_SANDBOX=1 "
                    "is set: run llminst as a non-root user, or, inside a container or VM, set "
                    'IS_SANDBOX=1 for the model (env = { IS_SANDBOX = "1" } in its config)'
                ),
            },
            install_hint="npm install -g @anthropic-ai/claude-code",
            version_command=_VERSION_FLAG,
            max_concurrency=4,
        ),
        ModelSpec(
            name="gemini",
            # gemini reads the prompt from stdin when stdin is not a terminal (no -p needed; it
            # must arrive within 500 ms, and more than 8 MiB is cut), so prompts of any size, and
            # prompts starting with "-" (which -p would take for a flag), reach it intact.
            # No system-prompt flag: GEMINI_SYSTEM_MD names a file that *replaces* gemini's whole
            # system prompt (tools and all), so a call's system prompt is prepended instead.
            command=("gemini", "--yolo", "--output-format", "stream-json"),
            prompt_mode=PromptMode.STDIN,
            submodel_args=("-m", SUBMODEL_PLACEHOLDER),
            # Headless runs save the chat under $HOME/.gemini/tmp/<project>/chats; --resume
            # takes "latest", an index or the init line's session_id (a UUID), which is the
            # only one safe when calls run concurrently.
            resume_args=("--resume", SESSION_ID_PLACEHOLDER),
            output_format=OutputFormat.GEMINI_STREAM_JSON,
            # Without TRUST_WORKSPACE --yolo is ignored in a folder the user never trusted, and
            # headless runs stop with exit 55 ("not running in a trusted directory"). NO_RELAUNCH
            # skips gemini re-executing itself with a larger heap: 0.74 s instead of 1.25 s to
            # start (`--version` too), and one process instead of two.
            env={"GEMINI_CLI_TRUST_WORKSPACE": "true", "GEMINI_CLI_NO_RELAUNCH": "true"},
            credential_env=("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_APPLICATION_CREDENTIALS"),
            # A 429 ends as exit 173 (429 % 256) with "[API Error: You have exhausted your daily
            # quota on this model.]" (per-minute quotas the CLI retries itself, 10 attempts).
            rate_limit_patterns=(
                *GENERIC_RATE_LIMIT_PATTERNS,
                r"exhausted your (?:daily )?quota",
                r"exceeded your current quota",
            ),
            # Exit 41: "When using Gemini API, you must specify the GEMINI_API_KEY environment
            # variable." or, with no auth type chosen in settings.json, "Invalid auth method
            # selected." (A 429's message ends "...switch to another /auth method": no match.)
            auth_patterns=(
                r"must specify the GEMINI_API_KEY",
                r"invalid auth method selected",
                r"please set an auth method",
                r"API key not valid",
            ),
            auth_hint=(
                "set GEMINI_API_KEY and choose API-key auth in ~/.gemini/settings.json "
                '({"security": {"auth": {"selectedType": "gemini-api-key"}}}), '
                "or run `gemini` once to log in"
            ),
            unreachable_hint=(
                "check the network, GOOGLE_GEMINI_BASE_URL (when set) and any proxy (HTTPS_PROXY)"
            ),
            error_hints={
                r"not running in a trusted directory": (
                    "set GEMINI_CLI_TRUST_WORKSPACE=true for this model (the built-in spec "
                    "does) or trust the folder in an interactive gemini session"
                ),
            },
            install_hint="npm install -g @google/gemini-cli",
            version_command=_VERSION_FLAG,
            max_concurrency=4,
        ),
        ModelSpec(
            name="codex",
            # `-` reads the prompt from stdin (any size, may start with "-"). Read-only sandbox
            # and no approvals: codex exec's defaults. No system-prompt flag (the
            # developer_instructions config key is a TOML value behind -c, which would read a
            # system prompt such as `true` as a boolean), so it is prepended.
            command=("codex", "exec", RESUME_PLACEHOLDER, "--json", "--skip-git-repo-check", "-"),
            prompt_mode=PromptMode.STDIN,
            # `codex exec resume THREAD_ID` continues the thread the thread.started line named;
            # only a thread saved to disk can be resumed, so --ephemeral is for calls outside
            # a session.
            resume_args=("resume", SESSION_ID_PLACEHOLDER),
            sessionless_args=("--ephemeral",),
            submodel_args=("-m", SUBMODEL_PLACEHOLDER),
            output_format=OutputFormat.CODEX_JSONL,
            credential_env=("OPENAI_API_KEY", "CODEX_API_KEY"),
            # A 429 ends as exit 1 with "exceeded retry limit, last status: 429 Too Many
            # Requests" once codex's own retries (stream_max_retries, default 5, honouring
            # Retry-After) are spent.
            rate_limit_patterns=GENERIC_RATE_LIMIT_PATTERNS,
            # A provider whose env_key is unset: "Missing environment variable: `OPENAI_API_KEY`."
            # A wrong key: "unexpected status 401 Unauthorized: Incorrect API key provided: ...".
            auth_patterns=(
                r"missing environment variable",
                r"401 unauthorized",
                r"incorrect api key",
                r"not logged in",
            ),
            auth_hint=(
                "run `codex login` (or `printenv OPENAI_API_KEY | codex login --with-api-key`), "
                "or set the variable your model provider's env_key names (OPENAI_API_KEY)"
            ),
            # Offline, codex repeats "Reconnecting... N/5 (... failed to lookup address ...)" and
            # then "Reconnecting... waiting for network (Connection failed: ...)" on stdout for
            # as long as it runs. Its stderr line "failed to connect to Responses WebSocket" is
            # left out: codex falls back to HTTPS by itself when only WebSockets are blocked.
            unreachable_patterns=tuple(
                p for p in GENERIC_UNREACHABLE_PATTERNS if p != r"failed to connect"
            ),
            unreachable_hint=(
                "check the network, the base_url of the model provider in ~/.codex/config.toml "
                "(when set) and any proxy (HTTPS_PROXY)"
            ),
            install_hint="npm install -g @openai/codex",
            version_command=_VERSION_FLAG,
            max_concurrency=4,
        ),
        ModelSpec(
            name="gpt-4",
            # The model is a sub-model defaulting to gpt-4, so gpt-4:gpt-4o runs `-m gpt-4o`.
            # `-g ROLE CONTENT` adds messages in argv order: the system message goes first.
            command=(
                "openai",
                "api",
                "chat.completions.create",
                SYSTEM_ARGS_PLACEHOLDER,
                HISTORY_PLACEHOLDER,
                "-g",
                "user",
                PROMPT_PLACEHOLDER,
            ),
            system_prompt_args=("-g", "system", SYSTEM_PROMPT_PLACEHOLDER),
            # No sessions of its own: a session's earlier messages are sent again, in order.
            history_args=("-g", "{role}", "{text}"),
            submodel_args=("-m", SUBMODEL_PLACEHOLDER),
            default_submodel="gpt-4",
            stream_args=("--stream",),
            credential_env=("OPENAI_API_KEY",),
            rate_limit_patterns=GENERIC_RATE_LIMIT_PATTERNS,
            # Without a key the CLI dies in a traceback ending in "openai.OpenAIError: The
            # api_key client option must be set ... OPENAI_API_KEY environment variable"; a
            # wrong key is a 401 "Incorrect API key provided".
            auth_patterns=(r"api_key client option must be set", r"incorrect api key"),
            auth_hint="set OPENAI_API_KEY (and OPENAI_BASE_URL for an OpenAI-compatible server)",
            unreachable_hint=(
                "check the network, OPENAI_BASE_URL (when set) and any proxy (HTTPS_PROXY)"
            ),
            install_hint="pip install 'openai==1.109.1' (the last release with the `openai` CLI)",
            version_command=_VERSION_FLAG,
            max_concurrency=8,
        ),
        ModelSpec(
            name="llm",
            # simonw's llm: `llm:MODEL` runs `-m MODEL`; plain `llm` uses its default model
            # (`llm models default`). --no-log keeps prompts out of its SQLite log.
            command=("llm", "prompt", "--no-log"),
            system_prompt_args=("--system", SYSTEM_PROMPT_PLACEHOLDER),
            prompt_separator="--",
            stdin_fallback=True,
            submodel_args=("-m", SUBMODEL_PLACEHOLDER),
            credential_env=("OPENAI_API_KEY",),
            rate_limit_patterns=GENERIC_RATE_LIMIT_PATTERNS,
            auth_patterns=(r"no key found",),
            auth_hint=(
                "set OPENAI_API_KEY (or run `llm keys set openai`); other providers' plugins "
                "take `llm keys set NAME` or their own variable"
            ),
            unreachable_hint=(
                "check the network, OPENAI_BASE_URL (when set) or the model plugin's API "
                "address, and any proxy (HTTPS_PROXY)"
            ),
            error_hints={
                r"unknown model": (
                    "`llm models` lists the models llm knows; install a plugin for others "
                    "(`llm install llm-ollama`, ...) and name the model as `llm:MODEL`"
                ),
            },
            install_hint="pip install llm (or `uv tool install llm`)",
            version_command=_VERSION_FLAG,
            max_concurrency=8,
        ),
        ModelSpec(
            name="llama",
            # `ollama run MODEL`: llama alone is llama2, llama:llama3 runs `ollama run llama3`.
            # `ollama run` has no system-prompt flag (only a Modelfile's SYSTEM): prepended.
            command=("ollama", "run"),
            submodel_args=(SUBMODEL_PLACEHOLDER,),
            default_submodel="llama2",
            stdin_fallback=True,
            rate_limit_patterns=GENERIC_RATE_LIMIT_PATTERNS,
            error_hints={
                r"could not connect to ollama app": (
                    "the ollama server is not running: start it with `ollama serve` (or the "
                    "ollama app), or set OLLAMA_HOST to where it runs"
                ),
                r"model '[^']*' not found": (
                    "pull the model first: `ollama pull llama2` for llama, `ollama pull NAME` "
                    "for llama:NAME"
                ),
            },
            unreachable_hint=(
                "start the ollama server (`ollama serve`) or set OLLAMA_HOST to where it runs"
            ),
            install_hint="install ollama from https://ollama.com and run `ollama serve`",
            version_command=_VERSION_FLAG,
            timeout_category=TimeoutCategory.NORMAL,
            max_concurrency=2,
        ),
    )
}
