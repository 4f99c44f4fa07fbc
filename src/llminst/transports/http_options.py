"""What the HTTP server may listen on and which Host headers it accepts, checked before it starts.

Owns the rules: a non-loopback address needs a token, a port is 0-65535, an ``--allow-host``
value is a name or address with an optional port, and the DNS-rebinding protection's Host and
Origin patterns (``--allow-host`` names are accepted on any port, ``NAME:PORT`` on that port).
Every refusal is an `InvalidInputError` that says what to pass instead. It must never bind a
socket or touch the app: these are checks on options, run before anything starts.
"""

from __future__ import annotations

import ipaddress

from mcp.server.transport_security import TransportSecuritySettings

from .._core.errors import InvalidInputError

__all__ = [
    "check_http_binding",
    "check_http_options",
    "check_port",
    "host_patterns",
    "transport_security",
]

_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
_WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]", "")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_http_binding(host: str, token: str | None) -> None:
    """Refuse to expose the server beyond this machine without a token.

    Raises:
        InvalidInputError: a non-loopback host without a token.
    """
    if not _is_loopback(host) and not token:
        raise InvalidInputError(
            f"refusing to listen on {host} without a token: anyone who can reach it could run "
            "commands through your LLM CLIs. Set --token (or LLMINST_HTTP_TOKEN), or bind to "
            "127.0.0.1"
        )


def check_port(port: int) -> None:
    """Raises: InvalidInputError: `port` is not a TCP port (0 picks a free one)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidInputError(
            f"port {port!r} is not a TCP port: use 1-65535, or 0 to let the system pick a free "
            "one (--port)"
        )


def host_patterns(value: str) -> list[str]:
    """The Host header values an ``--allow-host`` value accepts, as the SDK matches them.

    A bare name or address accepts it on any port (``myhost`` -> ``myhost`` and ``myhost:*``;
    clients send ``Host: myhost:PORT``); ``myhost:8080`` accepts that port only. IPv6 addresses
    are bracketed as in a Host header. Names are compared lower-cased.

    Raises:
        InvalidInputError: a URL, a path, an empty value or a bad port.
    """
    text = value.strip().lower()
    if not text or "/" in text or "@" in text or any(c.isspace() for c in text):
        raise InvalidInputError(
            f"--allow-host {value!r} is not a host: give a name or address, optionally with "
            ":PORT (myhost, myhost:8765, 192.0.2.7, [2001:db8::7]), not a URL"
        )
    if text.count(":") > 1 and not text.startswith("["):
        return [f"[{text}]", f"[{text}]:*"]  # a bare IPv6 address
    _, colon, port = text.rpartition(":") if not text.endswith("]") else ("", "", "")
    if not colon:
        return [text, f"{text}:*"]
    if port != "*" and not (port.isdigit() and 0 < int(port) <= 65535):
        raise InvalidInputError(
            f"--allow-host {value!r}: {port!r} is not a port; use NAME:PORT with a port of "
            "1-65535, or the bare NAME for any port"
        )
    return [text]


def check_http_options(
    host: str, port: int, token: str | None, allowed_hosts: list[str] | None = None
) -> None:
    """Check the HTTP options before anything starts (`serve_http` calls it too).

    Raises:
        InvalidInputError: a non-loopback host without a token, a bad port, a bad
            ``--allow-host`` value.
    """
    check_port(port)
    check_http_binding(host, token)
    for value in allowed_hosts or []:
        host_patterns(value)


def transport_security(host: str, allowed_hosts: list[str]) -> TransportSecuritySettings:
    """The SDK's DNS-rebinding protection: this machine's names, the ``--allow-host`` values
    and the address it was told to bind, each as Host patterns and http/https Origins."""
    names = [*_LOCAL_HOSTS, *allowed_hosts]
    if not _is_loopback(host) and host not in _WILDCARD_HOSTS:
        names.append(host)  # the address it was told to bind
    hosts = [pattern for name in names for pattern in host_patterns(name)]
    origins = [f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )
