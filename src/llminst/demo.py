"""`llminst demo`: start the MCP server over stdio and show every tool working, as a client sees it.

It spawns ``llminst serve`` as a subprocess and talks to it with the official MCP SDK client, so a
fresh machine sees the whole job: tool listing, a plain call, streaming progress, JSON mode, a
rate limit retried, a timeout with its partial output, cancellation, errors, status, token
estimates, runtime configuration and a fan-out to several models at once. Everything runs on the built-in `echo` model; with
``--real`` each installed real CLI also gets a one-line prompt, and then all of them the same
prompt at once (that spends tokens).

Each step is one function, run in order by `run_demo`. This module is a client only: it must
never import the server or the supervisor, or show anything an MCP client would not see; its
stdout is the demo's transcript, and the server's logs stay on stderr.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from mcp import Client, StdioServerParameters

__all__ = ["run_demo"]


def _say(text: str) -> None:
    print(text, flush=True)


def _show(result: Any) -> None:
    text = result.content[0].text if result.content else ""
    if len(text) > 300:
        text = text[:300] + "…"
    prefix = "   ERROR " if result.is_error else "   -> "
    _say(prefix + text.replace("\n", "\n      "))


async def run_demo(*, config: str | None = None, real: bool = False) -> int:
    """Start ``llminst serve`` over stdio, show each step on stdout, and return 0.

    Cancellation: cancelling it (``llminst demo`` does on SIGINT, SIGTERM or SIGHUP) closes the
    client, which stops the server it started; that server kills its calls' process trees.
    """
    args = ["-m", "llminst.cli", "--log-level", "warning"]
    if config:
        args += ["--config", config]
    # The server gets this process's whole environment, as `llminst serve` started by hand
    # would: the SDK's default passes only HOME, PATH and a few others, so API keys (for
    # --real) and PYTHONPATH would be lost.
    params = StdioServerParameters(
        command=sys.executable, args=[*args, "serve"], env=dict(os.environ)
    )
    _say(f"== starting `{sys.executable} {' '.join(args)} serve` and connecting over stdio")
    async with Client(params) as client:
        for step in _STEPS:
            await step(client)
        status = await _show_status(client)
        if real:
            await _ask_real_clis(client, status)
    _say("== done: the server exited with the client")
    return 0


async def _list_tools(client: Client) -> None:
    tools = await client.list_tools()
    _say("== tools: " + ", ".join(tool.name for tool in tools.tools))


async def _plain_call(client: Client) -> None:
    _say("== execute_llm(model='echo', prompt='Hello from llminst!')")
    _show(await client.call_tool("execute_llm", {"model": "echo", "prompt": "Hello from llminst!"}))


async def _streaming(client: Client) -> None:
    _say("== stream_llm: each progress notification carries the next chunk")
    start = trio.current_time()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if message is not None:
            _say(f"   +{trio.current_time() - start:5.2f}s progress {progress:g}: {message!r}")

    result = await client.call_tool(
        "stream_llm",
        {"model": "echo", "prompt": "[[echo:delay=0.15]] tokens arrive one by one"},
        progress_callback=on_progress,
    )
    _show(result)


async def _json_mode(client: Client) -> None:
    _say("== execute_llm(json_mode=True): parsed_json validated against {question, answer}")
    result = await client.call_tool(
        "execute_llm", {"model": "echo", "prompt": "What is llminst?", "json_mode": True}
    )
    _say(f"   -> parsed_json = {result.structured_content['parsed_json']}")


async def _rate_limit_retried(client: Client) -> None:
    _say("== a CLI that is rate limited once, retried with backoff (takes a second or two)")
    result = await client.call_tool(
        "execute_llm",
        {"model": "echo", "prompt": f"[[echo:rate-limit=1]] demo {uuid.uuid4().hex[:6]}"},
    )
    _say(
        f"   -> attempts = {result.structured_content['attempts']}, success = {not result.is_error}"
    )


async def _timeout_keeps_partial_output(client: Client) -> None:
    _say("== a CLI that outlives its timeout (1 s): killed, partial output kept")
    slow_words = "[[echo:delay=0.4]] one two three four five six seven eight nine ten"
    _show(
        await client.call_tool("execute_llm", {"model": "echo", "prompt": slow_words, "timeout": 1})
    )


async def _client_cancels(client: Client) -> None:
    _say("== a call the client cancels after 0.5 s: the server kills the process tree")
    with trio.move_on_after(0.5):
        await client.call_tool("execute_llm", {"model": "echo", "prompt": "[[echo:sleep=30]] x"})
    _say("   -> cancelled; the server goes on serving:")
    _show(await client.call_tool("execute_llm", {"model": "echo", "prompt": "still here"}))


async def _errors(client: Client) -> None:
    _say("== errors name their kind and the fix")
    _show(await client.call_tool("execute_llm", {"model": "no-such-model", "prompt": "hi"}))
    _show(await client.call_tool("execute_llm", {"model": "echo", "prompt": "[[echo:exit=3]]"}))


async def _estimate_tokens(client: Client) -> None:
    _say("== estimate_tokens")
    result = await client.call_tool(
        "estimate_tokens",
        {"text": "The quick brown fox jumps over the lazy dog.", "model": "claude"},
    )
    _say(f"   -> {result.structured_content}")


async def _configure(client: Client) -> None:
    _say("== configure_llm(model='shout', command=[python, -c, ...])")
    shout = [sys.executable, "-c", "import sys; print(sys.argv[-1].upper())"]
    _show(await client.call_tool("configure_llm", {"model": "shout", "command": shout}))
    _show(
        await client.call_tool("execute_llm", {"model": "shout", "prompt": "configured at runtime"})
    )


async def _fan_out(client: Client) -> None:
    _say("== compare_llms(models=['echo', 'shout'], synthesize_with='echo'): all at once")
    start = trio.current_time()

    shown_per_model: dict[str, int] = {}

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if message is None:
            return
        label = message.partition("] ")[0] + "]"
        shown_per_model[label] = shown_per_model.get(label, 0) + 1
        if shown_per_model[label] <= 2:  # the first two of each model's notifications
            shown = message if len(message) <= 60 else message[:57] + "..."
            _say(f"   +{trio.current_time() - start:5.2f}s progress {progress:g}: {shown!r}")

    arguments = {
        "models": ["echo", "shout"],
        "prompt": "Name one prime number.",
        "synthesize_with": "echo",
    }
    result = await client.call_tool("compare_llms", arguments, progress_callback=on_progress)
    _show_compare(result)


def _show_compare(result: Any) -> None:
    """One line per model (its time, and its answer or error), then the synthesis."""
    data = result.structured_content
    entries = [(r["model"], r) for r in data["results"]]
    if data["synthesis"] is not None:
        entries.append((f"synthesis by {data['synthesis']['model']}", data["synthesis"]))
    for name, entry in entries:
        if entry["success"]:
            said = entry["output"].strip().splitlines() or [""]
            detail = said[0] if len(said) == 1 else f"{said[0]} (+{len(said) - 1} lines)"
        else:
            detail = f"ERROR {entry['error_kind']}: {entry['error']}"
        _say(f"   {name:18} {entry['duration_s']:6.2f} s  {detail[:100]}")


# The demo's steps on the built-in `echo`, in the order shown.
_STEPS: tuple[Callable[[Client], Awaitable[None]], ...] = (
    _list_tools,
    _plain_call,
    _streaming,
    _json_mode,
    _rate_limit_retried,
    _timeout_keeps_partial_output,
    _client_cancels,
    _errors,
    _estimate_tokens,
    _configure,
    _fan_out,
)


async def _show_status(client: Client) -> Any:
    _say("== get_llm_status")
    status = await _settled_status(client)
    for model in status.structured_content["models"]:
        ready = "ready" if model["available"] else "missing"
        detail = model["version"] or model["hint"] or model["version_note"] or ""
        _say(f"   {model['model']:8} {ready:8} {detail}")
    return status


async def _ask_real_clis(client: Client, status: Any) -> None:
    real = [m for m in status.structured_content["available"] if m not in ("echo", "shout")]
    for model in real:
        _say(f"== execute_llm(model={model!r}) on the real CLI")
        _show(
            await client.call_tool(
                "execute_llm",
                {"model": model, "prompt": "Reply with one short sentence.", "timeout": 120},
            )
        )
    if len(real) > 1:
        fan_out = real[:8]  # compare_llms's limit
        _say(f"== compare_llms(models={fan_out!r}) on the real CLIs, all at once")
        arguments = {"models": fan_out, "prompt": "Reply with one short sentence.", "timeout": 120}
        _show_compare(await client.call_tool("compare_llms", arguments))


# A status answers at once and reports slow version commands as `probing`; the demo asks again
# (each ask waits for them a little) so what it shows is complete, within a bound.
_SETTLE_WITHIN_S = 30.0


async def _settled_status(client: Client) -> Any:
    status = await client.call_tool("get_llm_status", {})
    with trio.move_on_after(_SETTLE_WITHIN_S):
        while any(m["version_state"] == "probing" for m in status.structured_content["models"]):
            await trio.sleep(0.2)
            status = await client.call_tool("get_llm_status", {})
    return status
