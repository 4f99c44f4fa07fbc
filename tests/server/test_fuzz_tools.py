"""Hypothesis fuzzing of every tool's arguments through the in-memory MCP client.

Each test draws its examples up front (derandomized, so CI sees the same inputs every run), then
sends them all through ONE client, in both the direct ("auto") and JSON-RPC ("legacy") modes.
The property: every call answers with a result or an isError result whose text says what went
wrong, the server keeps serving (a last `execute_llm(model="echo", prompt="ok")` answers "ok"),
and no remote ``$ref`` is ever fetched (no socket connects anywhere during the test). The
extractor's bounds on adversarial output are tests/core/test_jsonmode_bounds.py.
"""

from __future__ import annotations

import math
import socket
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from mcp import Client

from llminst._core import errors
from llminst._core.errors import LLMError
from llminst._core.fanout import NO_ANSWERS_KIND
from llminst.server import ServerOptions, create_server

from ..support.models import FAST, models_with
from ..support.tools import text_of

EXAMPLES = 50
"""Examples per tool and mode; with the echo model the whole file runs in a few seconds."""

BUILTIN_NAMES = ("claude", "gemini", "codex", "gpt-4", "llm", "llama", "echo")
KINDS = {
    cls.kind
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, LLMError) and cls is not LLMError
} | {NO_ANSWERS_KIND}
"""Every error's text starts with one of these and a colon (compare_llms: no_answers when no
model answered)."""


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every address a socket in this process tries to connect to during the test."""
    calls: list[Any] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> Any:
        calls.append(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        calls.append(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return calls


def draw(strategy: st.SearchStrategy[Any], n: int = EXAMPLES) -> list[Any]:
    """`n` examples of `strategy`, the same ones on every run."""
    out: list[Any] = []

    @settings(
        max_examples=n,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def collect(value: Any) -> None:
        out.append(value)

    collect()
    return out


# --------------------------------------------------------------------------------------------
# Strategies


def _repeat(alphabet: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Strings up to about 1 MB, made by repeating a short piece."""
    return st.builds(
        lambda piece, n: (piece * n)[: 1 << 20],
        alphabet,
        st.sampled_from([1, 100, 10_000, 1 << 20]),
    )


CONTROL = st.text(st.characters(max_codepoint=0x1F) | st.sampled_from("\x7f\u2028\u202e\ufeff"))
NASTY_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "--help",
        "-rf /",
        "--version",
        "-",
        "--",
        "$(touch /tmp/llminst-pwned)",
        "`id`",
        "; rm -rf ~ #",
        "| cat /etc/passwd",
        "'\"\\",
        "{prompt}",
        "{submodel}",
        "\ud800",  # a lone surrogate: not encodable as UTF-8
        "\U0001f600" * 3,
        "\r\n\r\n",
    ]
)
ANY_TEXT = st.one_of(
    st.text(max_size=200), CONTROL, NASTY_STRINGS, _repeat(st.text(min_size=1, max_size=3))
)
WRONG_TYPES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
MODELS = st.one_of(
    st.just("echo"),
    st.sampled_from(
        ["nope", "ECHO", "echo:", "echo:x", ":", "claude:", "../../bin/sh", "echo\x00", " echo"]
    ),
    st.text(max_size=40),
)
TIMEOUTS = st.one_of(
    st.none(),
    st.sampled_from([0, -1, -0.0, 1e-300, 1e308, 2**64, 10**30, math.inf, -math.inf, math.nan]),
    st.floats(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.text(max_size=10),
)


def _nested(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"items": ' * depth + "{}" + "}" * depth


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
SCHEMAS = st.one_of(
    st.none(),
    st.sampled_from(
        [
            '{"$ref": "http://127.0.0.1:9/x"}',
            {"$ref": "http://127.0.0.1:9/x"},
            {"properties": {"a": {"$ref": "http://127.0.0.1:9/x#/a"}}},
            {"$id": "http://127.0.0.1:9/root", "$ref": "other.json"},
            {"$schema": "http://127.0.0.1:9/schema"},
            {"$dynamicRef": "http://127.0.0.1:9/x"},
            {"$ref": "#"},
            {
                "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
                "$ref": "#/$defs/a",
            },
            {"type": 12},
            {"type": "object", "pattern": "("},
            {"type": "string", "pattern": "(a+)+$"},
            "{nope",
            "[]",
            "NaN",
            "null",
            '{"type": "object"}',
            _nested(10_000, "array"),
            _nested(10_000, "object"),
            '{"description": "' + "x" * 1_000_000 + '"}',
            {"enum": list(range(100_000))},
        ]
    ),
    st.builds(lambda d: _nested(d, "object"), st.integers(0, 200)),
    JSON_VALUES,
    st.text(max_size=50),
)


def _rarely(strategy: st.SearchStrategy[Any], otherwise: st.SearchStrategy[Any]) -> Any:
    """`strategy` one time in twenty, `otherwise` the rest."""
    return st.integers(0, 19).flatmap(lambda i: strategy if i == 0 else otherwise)


def _maybe_wrong(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`strategy`, or one time in twenty a value of a wrong type (so most calls get past the
    argument check and reach llminst)."""
    return _rarely(WRONG_TYPES, strategy)


def _args(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Arguments with the required keys (usually), any subset of the optional ones, and one time
    in twenty an unknown key (refused, so rare enough that most calls get past the check)."""
    unknown = _rarely(st.just({"unexpected": "x"}), st.just({}))
    return st.builds(
        lambda known, extra: {**known, **extra},
        st.fixed_dictionaries(
            {k: _maybe_wrong(v) for k, v in required.items()},
            optional={k: _maybe_wrong(v) for k, v in optional.items()},
        ),
        unknown,
    )


# --------------------------------------------------------------------------------------------
# The property


async def _call_all(
    mode: str, tool: str, examples: list[dict[str, Any]], connects: list[Any]
) -> None:
    server = create_server(ServerOptions(models=models_with(), backoff=FAST))
    async with Client(server, mode=mode) as client:
        for args in examples:
            result = await client.call_tool(tool, args)
            _check(tool, args, result)
        ok = await client.call_tool("execute_llm", {"model": "echo", "prompt": "ok"})
    assert not ok.is_error and text_of(ok) == "ok"
    remote = [a for a in connects if not isinstance(a, str | bytes)]
    assert remote == [], f"sockets connected during {tool} fuzzing: {remote[:5]}"


def _check(tool: str, args: dict[str, Any], result: Any) -> None:
    shown = _short(args)
    text = text_of(result)
    if not result.is_error:
        assert result.structured_content is not None, shown
        return
    kind, _, reason = text.partition(": ")
    assert kind in KINDS and reason.strip(), f"{tool}({shown}) without a kind: {text[:300]}"
    assert "Error executing tool" not in text, f"{tool}({shown}): {text[:500]}"
    assert "internal error in llminst" not in text, f"{tool}({shown}): {text[:500]}"
    assert "Traceback" not in text, f"{tool}({shown}): {text[:500]}"


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


# --------------------------------------------------------------------------------------------
# One test per tool


EXECUTE = _args(
    {"prompt": ANY_TEXT},
    {
        "model": MODELS,
        "timeout": TIMEOUTS,
        "json_mode": st.booleans(),
        "stream": st.booleans(),
        "json_schema": SCHEMAS,
    },
)


async def test_fuzz_execute_llm(mode: str, connects: list[Any], echo_state) -> None:
    """execute_llm answers every argument mix with a result or a readable tool error."""
    examples = draw(EXECUTE.map(lambda a: {"model": "echo", **a} if "model" not in a else a))
    await _call_all(mode, "execute_llm", examples, connects)


async def test_fuzz_execute_llm_echo_prompts_round_trip(mode: str, echo_state) -> None:
    """Prompts that look like flags, shell or control characters reach the CLI unchanged."""
    prompts = draw(st.one_of(NASTY_STRINGS, st.text(min_size=1, max_size=100), CONTROL), 40)
    prompts += ["x" * (1 << 20), "--" * 100_000, "\x00" * 1000]
    # A result cap above the largest prompt: the whole answer comes back in one result.
    uncapped = {"max_result_chars": 1 << 21, "max_result_tokens": 1 << 30}
    server = create_server(ServerOptions(models=models_with(), backoff=FAST, **uncapped))
    async with Client(server, mode=mode) as client:
        for prompt in prompts:
            result = await client.call_tool("execute_llm", {"model": "echo", "prompt": prompt})
            if result.is_error:
                _check("execute_llm", {"prompt": prompt}, result)
                assert text_of(result).startswith("invalid_input: "), (prompt, text_of(result))
            else:
                assert text_of(result) == prompt, (prompt, text_of(result)[:200])


async def test_fuzz_stream_llm(mode: str, connects: list[Any], echo_state) -> None:
    """stream_llm answers every argument mix with a result or a readable tool error."""
    strategy = _args({"model": MODELS, "prompt": ANY_TEXT}, {"timeout": TIMEOUTS})
    await _call_all(mode, "stream_llm", draw(strategy), connects)


async def test_fuzz_compare_llms(mode: str, connects: list[Any], echo_state) -> None:
    """compare_llms answers every mix of model lists (empty, repeated, too long, unknown,
    nasty names) and options with a result or a readable tool error."""
    model_lists = st.lists(MODELS, max_size=10)
    strategy = _args(
        {"prompt": ANY_TEXT, "models": model_lists},
        {
            "timeout": TIMEOUTS,
            "json_mode": st.booleans(),
            "json_schema": SCHEMAS,
            "synthesize_with": st.none() | MODELS,
        },
    )
    await _call_all(mode, "compare_llms", draw(strategy, 30), connects)


async def test_fuzz_get_llm_status(mode: str, connects: list[Any]) -> None:
    """get_llm_status refuses wrong types readably (probe stays off: it would spend tokens)."""
    strategy = _args({}, {"probe": st.just(False)})
    await _call_all(mode, "get_llm_status", draw(strategy, 20), connects)


async def test_fuzz_estimate_tokens(mode: str, connects: list[Any]) -> None:
    """estimate_tokens takes any text and model, or refuses wrong types readably."""
    strategy = _args({"text": ANY_TEXT}, {"model": MODELS})
    await _call_all(mode, "estimate_tokens", draw(strategy), connects)


def _mostly(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A valid choice most of the time, so later fields (the regexes) get checked too."""
    return st.one_of(valid, valid, valid, valid, ANY_TEXT)


REGEXES = st.one_of(
    st.sampled_from(["(", "[", "*", "a{2,1}", "(?P<x>", "\\", "(a+)+$", "(?<=a+)b", "\x00"]),
    st.text(max_size=30),
)
COMMANDS = st.one_of(
    st.lists(ANY_TEXT, max_size=4),
    ANY_TEXT,
    st.sampled_from(
        [[], [""], "'unterminated", ["{prompt}"], "sh -c 'rm -rf ~'", [sys.executable, "-V"]]
    ),
)
CONFIGURE = _args(
    {
        # Never the built-in names: the final echo call must still reach the real echo.
        "model": st.one_of(
            st.sampled_from(["mine", "my-cli", "a.b", "x:y", "UPPER", "emoji-\U0001f600"]),
            st.text(max_size=40),
        ).filter(lambda m: m not in BUILTIN_NAMES),
        "command": COMMANDS,
    },
    {
        "timeout_category": _mostly(st.sampled_from(["quick", "extended", "QUICK"])),
        "rate_limit_patterns": st.lists(REGEXES, max_size=3),
        "auth_patterns": st.lists(REGEXES, max_size=3),
        "error_hints": st.dictionaries(REGEXES, st.text(max_size=10), max_size=2),
        "prompt_mode": _mostly(st.sampled_from(["argv", "stdin"])),
        "stdin_fallback": st.booleans(),
        "prompt_separator": ANY_TEXT,
        "stream_args": st.lists(ANY_TEXT, max_size=3),
        "submodel_args": st.lists(ANY_TEXT, max_size=3),
        "default_submodel": ANY_TEXT,
        "output_format": _mostly(st.sampled_from(["text", "claude-stream-json"])),
        "env": st.dictionaries(ANY_TEXT, ANY_TEXT, max_size=3),
        "env_remove": st.lists(ANY_TEXT, max_size=3),
        "max_attempts": st.integers(min_value=-(2**70), max_value=2**70),
        "max_concurrency": st.integers(min_value=-(2**70), max_value=2**70),
        "cwd": ANY_TEXT,
        "version_command": st.lists(ANY_TEXT, max_size=3),
    },
)


async def test_fuzz_configure_llm(mode: str, connects: list[Any]) -> None:
    """configure_llm validates every field (bad regexes, categories, argv) with a readable error."""
    await _call_all(mode, "configure_llm", draw(CONFIGURE), connects)


async def test_fuzz_configure_llm_regexes(mode: str, connects: list[Any]) -> None:
    """Invalid or catastrophic regexes in every regex field are refused or accepted, never a crash."""
    strategy = st.fixed_dictionaries(
        {"model": st.just("mine"), "command": st.just([sys.executable, "-V"])},
        optional={
            "rate_limit_patterns": st.lists(REGEXES, max_size=3),
            "auth_patterns": st.lists(REGEXES, max_size=3),
            "error_hints": st.dictionaries(REGEXES, st.text(max_size=10), max_size=2),
        },
    )
    await _call_all(mode, "configure_llm", draw(strategy, 40), connects)
