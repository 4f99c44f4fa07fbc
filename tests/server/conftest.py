"""Fixtures for the MCP tests: `mode` runs a test through both of the SDK client's dispatchers."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["auto", "legacy"])
def mode(request: pytest.FixtureRequest) -> str:
    """Both the direct dispatcher and the real JSON-RPC dispatcher."""
    return str(request.param)
