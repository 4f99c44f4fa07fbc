"""Serving the MCP server: stdio with trio-native streams, and streamable HTTP on hypercorn/trio.

Owns how bytes reach the SDK's server and leave it, one module per concern:

- `stdio`: fds 0 and 1 read and written with trio, the protocol guarded from stray prints;
- `http_options`: which address, port and Host names the HTTP server accepts (checks only);
- `asgi`: the wrappers around the SDK's app (health probe, bearer token, cancel on disconnect);
- `http`: binding the port and serving the wrapped app with hypercorn's trio worker.

Both transports serve until they are cancelled (`llminst serve` cancels them on SIGINT, SIGTERM
or SIGHUP, see `llminst.signals`): the lifespan then closes the supervisor, which kills every
running process tree before the process exits. No module here installs signal handlers, starts
a process or knows a tool: that is the server's and the supervisor's.
"""

from __future__ import annotations

from .asgi import cancel_on_disconnect, require_bearer
from .http import HttpListening, serve_http
from .http_options import check_http_binding, check_http_options, check_port, host_patterns
from .stdio import serve_stdio

__all__ = [
    "HttpListening",
    "cancel_on_disconnect",
    "check_http_binding",
    "check_http_options",
    "check_port",
    "host_patterns",
    "require_bearer",
    "serve_http",
    "serve_stdio",
]
