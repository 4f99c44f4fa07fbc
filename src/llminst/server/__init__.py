"""The MCP server: the only place that knows MCP (with `wire` and `transports`).

Layout: `app` builds the server (lifespan, HTTP app); `tools` and `configure` are the tools,
module-level typed functions over the supervisor; `registry` registers them with strict argument
checks (`arguments`) and readable errors; `results` shapes what they return; `progress` streams
a call's text as progress notifications; `state` is what every tool reaches. The server never
starts a process itself: the supervisor its lifespan opens does.
"""

from __future__ import annotations

from .app import create_server
from .results import ExecuteResult
from .state import ServerOptions

__all__ = ["ExecuteResult", "ServerOptions", "create_server"]
