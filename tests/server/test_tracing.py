"""OpenTelemetry: the SDK's span around each message, opened only while a tracer provider is set.

Regression (issue 11, MCP overhead): without a provider the SDK's spans record nothing, yet the
server opened and closed one for every message (about 50 us a request). A spy on the SDK's
middleware shows whether a request's span was opened; a provider is configured for one test
the way `trace.set_tracer_provider` does (the global the API reads), and restored after it.
"""

from __future__ import annotations

from typing import Any

import pytest
from mcp.server._otel import OpenTelemetryMiddleware
from opentelemetry import trace

from ..support.tools import connect


@pytest.fixture
def spans_opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The methods of the messages the SDK's OpenTelemetry middleware was entered for."""
    opened: list[str] = []
    original = OpenTelemetryMiddleware.__call__

    async def spy(self: OpenTelemetryMiddleware, ctx: Any, call_next: Any) -> Any:
        opened.append(ctx.method)
        return await original(self, ctx, call_next)

    monkeypatch.setattr(OpenTelemetryMiddleware, "__call__", spy)
    return opened


async def _estimate(mode: str) -> None:
    async with connect(mode) as client:
        result = await client.call_tool("estimate_tokens", {"text": "four words in here"})
    assert not result.is_error, result


async def test_without_a_tracer_provider_no_span_is_opened(
    mode: str, spans_opened: list[str]
) -> None:
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)  # none configured
    await _estimate(mode)
    assert "tools/call" not in spans_opened


async def test_with_a_tracer_provider_each_request_gets_its_span(
    mode: str, spans_opened: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", trace.NoOpTracerProvider())
    await _estimate(mode)
    assert spans_opened.count("tools/call") == 1
