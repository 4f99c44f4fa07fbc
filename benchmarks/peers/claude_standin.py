"""A stand-in for the `claude` CLI (Claude Code 2.1.331) that answers at once, for the peer benchmarks.

It owns the two wire protocols the benchmarked peers drive, record for record as the real CLI
writes them (tests/fixtures/claude/*.jsonl and recorded_sdk_stdout.jsonl beside this file are
recordings of the real CLI against a fake API; tests/benchmarks/test_peers.py compares against them):

- One-shot, as llminst and cc_executor run it: ``claude -p [flags] [--] PROMPT`` (the prompt as
  the one argument, or on stdin when there is none) with ``--output-format stream-json
  --verbose``: a ``system``/``init`` record, the ``assistant`` message (preceded by
  ``stream_event`` deltas with ``--include-partial-messages``) and the ``result`` record.
  ``--output-format text`` prints the answer, ``json`` the result record alone.
- Streaming input, as claude-agent-sdk runs it: ``claude --output-format stream-json --verbose
  ... --input-format stream-json``. stdin carries JSON lines: a ``control_request`` (the SDK's
  ``initialize``) is answered with a ``control_response``; each ``user`` message gets a turn
  (``init``, ``assistant``, ``result``, bracketed by ``session_state_changed`` running/idle
  records marked ``sdk_host_only`` when $CLAUDE_CODE_SDK_READS_SESSION_STATE is set, as the SDK
  sets it). End of stdin ends the process with status 0.

The answer is always ``Echo: <prompt>`` (what the fake API of the recordings answers), so a peer's
output can be checked. ``--version`` prints the version like the real CLI. Unknown options, a
missing prompt and ``stream-json`` output without ``--verbose`` are refused as the real CLI
refuses them. It imports only json, os, sys and time: it must start fast, since its start-up is
part of every measured call. Run it as ``python claude_standin.py ARGS``.
"""

import json
import os
import sys
import time

VERSION = "2.1.331"
MODEL = "claude-opus-5-5"

# Options that take a value (``--opt value`` or ``--opt=value``); any other ``-``/``--`` word
# must be one of FLAGS. Together they cover what llminst's claude spec and the SDK pass.
VALUE_OPTIONS = frozenset(
    {
        "--output-format",
        "--input-format",
        "--model",
        "--fallback-model",
        "--system-prompt",
        "--system-prompt-file",
        "--append-system-prompt",
        "--permission-mode",
        "--permission-prompt-tool",
        "--max-turns",
        "--max-budget-usd",
        "--task-budget",
        "--settings",
        "--setting-sources",
        "--tools",
        "--allowedTools",
        "--disallowedTools",
        "--mcp-config",
        "--add-dir",
        "--plugin-dir",
        "--resume",
        "--resume-session-at",
        "--session-id",
        "--betas",
        "--effort",
        "--thinking",
        "--thinking-display",
        "--max-thinking-tokens",
    }
)
FLAGS = frozenset(
    {
        "-p",
        "--print",
        "--verbose",
        "--dangerously-skip-permissions",
        "--include-partial-messages",
        "--include-hook-events",
        "--continue",
        "--strict-mcp-config",
        "--fork-session",
        "--session-mirror",
    }
)

HELP = """\
Usage: claude [options] [prompt]

Claude Code stand-in for llminst's peer benchmarks (answers "Echo: <prompt>" at once).

Options:
  -p, --print                      Print the response and exit
  --output-format <format>         "text", "json" or "stream-json" (with -p)
  --input-format <format>          "text" or "stream-json" (control protocol on stdin)
  --verbose                        Required by --output-format stream-json with -p
  --include-partial-messages       Stream text deltas as stream_event records
  --model <model>                  Accepted and ignored
  --dangerously-skip-permissions   Report permissionMode bypassPermissions
  -v, --version                    Output the version number
  -h, --help                       Display help
"""

TOOLS = [
    *("Task", "Bash", "CronCreate", "CronDelete", "CronList", "DesignSync", "Edit"),
    *("EnterWorktree", "ExitWorktree", "ListAgents", "Monitor", "NotebookEdit", "Read"),
    *("ReportFindings", "ScheduleWakeup", "SendMessage", "Skill", "TaskStop", "ToolSearch"),
    *("WebFetch", "WebSearch", "Workflow", "Write"),
]
SKILLS = [
    *("deep-research", "design", "design-sync", "dataviz", "update-config", "verify", "debug"),
    *("code-review", "simplify", "batch", "fewer-permission-prompts", "doctor", "loop"),
    *("claude-api", "workflow-authoring", "run", "run-skill-generator", "plugin-authoring"),
]
SLASH_COMMANDS = [
    *SKILLS,
    *("agents", "auto-mode-setup", "autocompact", "clear", "color", "compact", "config"),
    *("output-style", "context", "effort", "fast", "focus", "heapdump", "init", "mcp", "model"),
    *("__remote-workflow", "workflow-launch-exec", "reload-plugins", "reload-skills", "rename"),
    *("security-review", "usage", "insights", "recap", "goal", "design-consent"),
    *("design-revoke", "list-agents", "team-onboarding"),
]
AGENTS = ["claude", "Explore", "general-purpose", "Plan", "statusline-setup"]
PLUGINS = [
    {"name": name, "path": "builtin", "source": f"{name}@builtin"}
    for name in (
        "cc-plugin-agents-md",
        "cc-plugin-telemetry",
        "cc-plugin-privacy",
        "cc-plugin-plugin-authoring",
    )
]
CAPABILITIES = [
    *("interrupt_receipt_v1", "interrupt_cancel_queued_v1", "interrupt_send_now_v1"),
    *("interrupt_requeue_taken_v1", "msg_lifecycle_v1", "request_marker_lists_v1"),
    *("ask_user_question_unanswered_v1", "lifecycle_wakeup_source_v1"),
    *("sdk_mcp_tools_list_changed", "sdk_mcp_manifests", "mcp_read_resource_v1"),
    *("mcp_tool_ui_meta_v1", "ui_surface_v1", "mcp_call_result_not_for_model_v1"),
    *("mcp_call_soft_error_result_v1", "mcp_call_check_permissions_v1"),
    *("voice_call_talk_line_v1", "withdrawn_files_note_v2", "withdrawn_tools_v1"),
    *("ui_pane_widget_v1", "reload_plugins_refuse_if_busy_v1", "get_usage_detached_v1"),
    "silent_resend_files_v1",
]
INIT_CAPABILITIES = [
    *("ui_surface_v1", "mcp_call_result_not_for_model_v1", "mcp_call_soft_error_result_v1"),
    *("mcp_call_check_permissions_v1", "voice_call_talk_line_v1", "ui_pane_widget_v1"),
    *("reload_plugins_refuse_if_busy_v1", "get_usage_detached_v1"),
]


class UsageError(Exception):
    """The command line or the input is refused (message on stderr, exit status 1)."""


def new_uuid() -> str:
    h = bytearray(os.urandom(16))
    h[6] = (h[6] & 0x0F) | 0x40
    h[8] = (h[8] & 0x3F) | 0x80
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def timestamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def emit(record: dict) -> None:
    sys.stdout.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def parse_args(argv: list[str]) -> tuple[dict[str, str], set[str], list[str]]:
    """(options with values, flags, positional words) of a claude command line."""
    values: dict[str, str] = {}
    flags: set[str] = set()
    positional: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if word == "--":
            positional.extend(argv[i:])
            break
        if not word.startswith("-") or word == "-":
            positional.append(word)
            continue
        name, eq, value = word.partition("=")
        if name in VALUE_OPTIONS:
            if not eq:
                if i >= len(argv):
                    raise UsageError(f"error: option '{name} <value>' argument missing")
                value = argv[i]
                i += 1
            values[name] = value
        elif word in FLAGS:
            flags.add("--print" if word == "-p" else word)
        else:
            raise UsageError(f"error: unknown option '{word}'")
    return values, flags, positional


class Session:
    """One claude process: its session id, permission mode and output options."""

    def __init__(self, values: dict[str, str], flags: set[str]) -> None:
        self.id = new_uuid()
        self.partial = "--include-partial-messages" in flags
        if "--dangerously-skip-permissions" in flags:
            self.permission_mode = "bypassPermissions"
        else:
            self.permission_mode = values.get("--permission-mode", "default")
        self.api_key_source = "ANTHROPIC_API_KEY" if os.environ.get("ANTHROPIC_API_KEY") else "none"

    def init_record(self) -> dict:
        cwd = os.getcwd()
        home = os.environ.get("HOME", "/root")
        project = cwd.replace("/", "-").replace(".", "-")
        return {
            "type": "system",
            "subtype": "init",
            "cwd": cwd,
            "session_id": self.id,
            "tools": TOOLS,
            "mcp_servers": [],
            "model": MODEL,
            "permissionMode": self.permission_mode,
            "slash_commands": SLASH_COMMANDS,
            "terminal_slash_commands": ["doctor", "color", "focus", "reload-plugins"],
            "apiKeySource": self.api_key_source,
            "claude_code_version": VERSION,
            "output_style": "default",
            "agents": AGENTS,
            "skills": SKILLS,
            "plugins": PLUGINS,
            "capabilities": CAPABILITIES,
            "analytics_disabled": False,
            "product_feedback_disabled": False,
            "served_by_anthropic": False,
            "uuid": new_uuid(),
            "sandbox_enabled": False,
            "memory_paths": {"auto": f"{home}/.claude/projects/{project}/memory/"},
            "original_cwd": cwd,
            "additional_directories": [],
            "messaging_socket_path": f"/run/cc-socks/{os.getpid()}.sock",
            "fast_mode_state": "off",
            "fast_mode_disabled_reason": "sdk_opt_in_required",
            "per_turn_effort_active": True,
            "ultrathink_available": False,
            "ultrathink_typed_raises": False,
            "view_mode": "default",
        }

    def turn(self, prompt: str, *, with_init: bool = True) -> tuple[list[dict], dict]:
        """The records of one turn answering `prompt`: (records before the result, result)."""
        started = time.monotonic()
        answer = f"Echo: {prompt}"
        message_id = "msg_stand_in_" + os.urandom(10).hex()
        usage = {
            "input_tokens": 12,
            "output_tokens": 1,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        records = [self.init_record()] if with_init else []
        if self.partial:
            records.append(self._status_requesting())
            records.extend(self._stream_start(message_id, usage))
            records.extend(self._delta(message_id, piece) for piece in pieces(answer))
        records.append(
            {
                "type": "assistant",
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": MODEL,
                    "content": [{"type": "text", "text": answer}],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": usage,
                    "context_management": None,
                },
                "parent_tool_use_id": None,
                "session_id": self.id,
                "uuid": new_uuid(),
                "timestamp": timestamp(),
                "request_id": "req_stand_in",
            }
        )
        output_tokens = max(1, len(answer) // 4)
        if self.partial:
            records.extend(self._stream_end(message_id, output_tokens))
        elapsed_ms = max(1, int((time.monotonic() - started) * 1000))
        begun = [message_id] if self.partial else None
        result = self._result(answer, output_tokens, elapsed_ms, begun)
        return records, result

    def _stream(self, message_id: str, event: dict) -> dict:
        return {
            "type": "stream_event",
            "event": event,
            "session_id": self.id,
            "parent_tool_use_id": None,
            "uuid": new_uuid(),
            "api_message_id": message_id,
        }

    def _status_requesting(self) -> dict:
        return {
            "type": "system",
            "subtype": "status",
            "status": "requesting",
            "session_id": self.id,
            "uuid": new_uuid(),
        }

    def _stream_start(self, message_id: str, usage: dict) -> list[dict]:
        start = self._stream(
            message_id,
            {
                "type": "message_start",
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": MODEL,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": usage,
                },
            },
        )
        start["ttft_ms"] = 1
        start["thinking_display"] = "updates"
        block = {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        }
        return [start, self._stream(message_id, block)]

    def _delta(self, message_id: str, text: str) -> dict:
        delta = {"type": "text_delta", "text": text}
        return self._stream(message_id, {"type": "content_block_delta", "index": 0, "delta": delta})

    def _stream_end(self, message_id: str, output_tokens: int) -> list[dict]:
        return [
            self._stream(message_id, {"type": "content_block_stop", "index": 0}),
            self._stream(
                message_id,
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": output_tokens},
                },
            ),
            self._stream(message_id, {"type": "message_stop"}),
        ]

    def _result(
        self, answer: str, output_tokens: int, elapsed_ms: int, begun: list[str] | None
    ) -> dict:
        cost = round(0.000004 * 12 + 0.00002 * output_tokens, 6)
        model_usage = {
            MODEL: {
                "inputTokens": 12,
                "outputTokens": output_tokens,
                "cacheReadInputTokens": 0,
                "cacheCreationInputTokens": 0,
                "webSearchRequests": 0,
                "costUSD": cost,
                "contextWindow": 1000000,
                "maxOutputTokens": 128000,
                "thinkingTokens": 0,
                "cacheCreationEphemeral5mInputTokens": 0,
                "cacheCreationEphemeral1hInputTokens": 0,
                "canonicalModel": MODEL,
                "provider": "firstParty",
                "costBasis": "list",
            }
        }
        record = {
            "duration_api_ms": elapsed_ms,
            "stop_reason": "end_turn",
            "session_id": self.id,
            "total_cost_usd": cost,
            "usage": {
                "input_tokens": 12,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": output_tokens,
                "output_tokens_details": {"thinking_tokens": 0},
                "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
                "service_tier": "standard",
                "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
                "inference_geo": "",
                "iterations": [],
                "speed": "standard",
                "fallback_credit": None,
            },
            "modelUsage": model_usage,
            "permission_denials": [],
            "terminal_reason": "completed",
            "fast_mode_state": "off",
            "fast_mode_disabled_reason": "sdk_opt_in_required",
            "subagent_stats": {
                "spawned": 0,
                "requested": {"background": 0, "foreground": 0, "unset": 0},
                "started_in_background": 0,
                "max_depth": 0,
                "spawned_by_subagents": 0,
                "completed": 0,
                "failed": 0,
                "killed": {"parent": 0, "user": 0, "system": 0},
                "refused": {"depth_limit": 0, "concurrency_limit": 0, "budget": 0},
                "by_type": {},
            },
            "safety_stops": 0,
            "is_error": False,
            "num_turns": 1,
            "subtype": "success",
            "api_error_status": None,
            "result": answer,
            "ttft_ms": 1,
            "type": "result",
            "duration_ms": elapsed_ms,
            "uuid": new_uuid(),
        }
        if begun is not None:  # a streamed turn lists the messages it began
            record["begun_message_ids"] = begun
        record |= {
            "ttft_stream_ms": 1,
            "time_to_request_ms": 0,
            "first_content_frame_ms": 1,
            "queued_turn_count": 0,
            "result_index": 0,
            "model_usage_since_last_result": model_usage,
        }
        return record

    def initialize_response(self) -> dict:
        """The ``response`` of a successful ``initialize`` (the real one, with shorter lists)."""
        return {
            "commands": [
                {"name": name, "description": f"/{name}", "argumentHint": "", "builtin": True}
                for name in SKILLS
            ],
            "agents": [{"name": name, "description": f"The {name} agent."} for name in AGENTS],
            "output_style": "default",
            "available_output_styles": [
                "default",
                "Proactive",
                "Concise",
                "Explanatory",
                "Learning",
            ],
            "user_output_styles_dir": os.path.join(
                os.environ.get("HOME", "/root"), ".claude", "output-styles"
            ),
            "models": [
                {
                    "value": "default",
                    "resolvedModel": MODEL,
                    "displayName": "Default (recommended)",
                    "description": "Use the default model",
                    "supportsEffort": True,
                    "supportedEffortLevels": ["low", "medium", "high", "xhigh", "max"],
                    "supportsAdaptiveThinking": True,
                    "supportsFastMode": True,
                    "supportsAutoMode": True,
                    "supportsThinkingOff": False,
                }
            ],
            "account": {
                "tokenSource": "none",
                "apiKeySource": self.api_key_source,
                "apiProvider": "firstParty",
            },
            "pid": os.getpid(),
            "claude_code_version": VERSION,
            "current_permission_mode": self.permission_mode,
            "hook_on_failure_supported": True,
            "hooks_when_unanswered_kept": 0,
            "other_hook_ask_outranks_host": True,
            "feedback_mode": {"kind": "post"},
            "analytics_disabled": False,
            "sandbox_enabled": False,
            "remote_control_auto_enable": False,
            "remote_control_auto_connect_default": False,
            "remote_control_available": False,
            "remote_control_auto_on_by_default": False,
            "ide_rc_auto_enable_gate": False,
            "fast_mode_state": "off",
            "fast_mode_disabled_reason": "sdk_opt_in_required",
            "session_state": "idle",
            "capabilities": INIT_CAPABILITIES,
        }


def pieces(answer: str) -> list[str]:
    """The answer cut into text deltas at word ends ("Echo: ", "one ", "two", ...)."""
    out: list[str] = []
    start = 0
    for i, char in enumerate(answer):
        if char == " ":
            out.append(answer[start : i + 1])
            start = i + 1
    if start < len(answer):
        out.append(answer[start:])
    return out


def one_shot(session: Session, output_format: str, prompt: str) -> int:
    records, result = session.turn(prompt)
    if output_format == "stream-json":
        for record in records:
            emit(record)
        emit(result)
    elif output_format == "json":
        emit(result)
    else:
        sys.stdout.write(result["result"] + "\n")
    return 0


def prompt_of(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            block.get("text", "")
            for block in content
            if isinstance(block, dict) and block.get("type") == "text"
        )
    return ""


def streaming(session: Session) -> int:
    """The control protocol on stdin/stdout until stdin ends."""
    states = bool(os.environ.get("CLAUDE_CODE_SDK_READS_SESSION_STATE"))
    for raw in sys.stdin.buffer:
        line = raw.decode("utf-8", errors="replace").strip()
        if not line:
            continue
        try:
            message = json.loads(line)
        except ValueError:
            raise UsageError(f"Error parsing streaming input line: {line[:200]}") from None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "control_request":
            emit(control_response(session, message))
        elif kind == "user":
            if states:
                emit(session_state(session, "running"))
            records, result = session.turn(prompt_of(message.get("message") or {}))
            for record in records:
                emit(record)
            emit(result)
            if states:
                emit(session_state(session, "idle"))
        elif kind in ("control_response", "keep_alive", "update_environment_variables"):
            continue
        else:
            raise UsageError(f"Error: unexpected message type in streaming input: {kind!r}")
    return 0


def control_response(session: Session, message: dict) -> dict:
    request = message.get("request") or {}
    subtype = request.get("subtype")
    response: dict = {"subtype": "success", "request_id": message.get("request_id")}
    if subtype == "initialize":
        response["response"] = session.initialize_response()
        response["pending_permission_requests"] = []
        response["pending_user_dialog_requests"] = []
    elif subtype in ("interrupt", "set_permission_mode", "set_model", "end_session"):
        response["response"] = {}
    else:
        response = {
            "subtype": "error",
            "request_id": message.get("request_id"),
            "error": f"Unsupported control request subtype: {subtype}",
        }
    return {"type": "control_response", "response": response}


def session_state(session: Session, state: str) -> dict:
    return {
        "type": "system",
        "subtype": "session_state_changed",
        "state": state,
        "sdk_host_only": True,
        "uuid": new_uuid(),
        "session_id": session.id,
    }


def main(argv: list[str]) -> int:
    if any(word in ("-v", "--version", "-V") for word in argv):
        sys.stdout.write(f"{VERSION} (Claude Code)\n")
        return 0
    if any(word in ("-h", "--help") for word in argv):
        sys.stdout.write(HELP)
        return 0
    values, flags, positional = parse_args(argv)
    output_format = values.get("--output-format", "text")
    input_format = values.get("--input-format", "text")
    if output_format not in ("text", "json", "stream-json"):
        raise UsageError(f"error: option '--output-format' has an invalid value {output_format!r}")
    session = Session(values, flags)
    if input_format == "stream-json":
        if output_format != "stream-json":
            raise UsageError(
                "Error: --input-format=stream-json requires output-format=stream-json."
            )
        if positional:
            raise UsageError(
                "Error: a prompt argument cannot be used with --input-format=stream-json"
            )
        return streaming(session)
    if input_format != "text":
        raise UsageError(f"error: option '--input-format' has an invalid value {input_format!r}")
    if "--print" not in flags:
        raise UsageError("Error: this stand-in has no interactive mode; use -p/--print")
    if output_format == "stream-json" and "--verbose" not in flags:
        raise UsageError(
            "Error: When using --print, --output-format=stream-json requires --verbose"
        )
    if len(positional) > 1:
        raise UsageError(
            f"error: too many arguments. Expected 1 argument but got {len(positional)}."
        )
    prompt = positional[0] if positional else sys.stdin.read()
    if not prompt.strip():
        raise UsageError(
            "Error: Input must be provided either through stdin or as a prompt argument "
            "when using --print"
        )
    return one_shot(session, output_format, prompt)


if __name__ == "__main__":
    try:
        status = main(sys.argv[1:])
    except UsageError as exc:
        sys.stderr.write(f"{exc}\n")
        status = 1
    except BrokenPipeError:
        status = 1
    sys.exit(status)
