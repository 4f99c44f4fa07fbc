"""The HTTP server's access rules as pure functions: which binds need a token, which ports are
ports, and which Host and Origin headers the DNS-rebinding protection accepts. No server runs."""

from __future__ import annotations

import pytest

from llminst import InvalidInputError
from llminst.transports import check_http_binding, check_http_options, check_port
from llminst.transports.http_options import transport_security

LOCAL_PATTERNS = ["127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]", "[::1]:*"]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_a_loopback_bind_needs_no_token(host: str) -> None:
    """Only this machine can reach a loopback address: no token is asked for."""
    check_http_binding(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "myhost"])
def test_any_other_bind_needs_a_token(host: str) -> None:
    """A bind other machines may reach is refused without a token, and accepted with one."""
    with pytest.raises(InvalidInputError, match="without a token") as refused:
        check_http_binding(host, None)
    assert refused.value.kind == "invalid_input"
    assert "--token" in str(refused.value) and "127.0.0.1" in str(refused.value)
    check_http_binding(host, "s3cret")


@pytest.mark.parametrize("port", [0, 1, 8765, 65535])
def test_ports_in_range_are_accepted(port: int) -> None:
    check_port(port)


@pytest.mark.parametrize("port", [-1, 65536, True, "8765"])
def test_anything_else_is_not_a_port(port: object) -> None:
    """Out of range, a bool (an int to Python) or a string: refused, the fix named."""
    with pytest.raises(InvalidInputError, match="is not a TCP port") as refused:
        check_port(port)  # type: ignore[arg-type]
    assert "1-65535" in str(refused.value) and "--port" in str(refused.value)


def test_check_http_options_checks_every_allow_host_value() -> None:
    """A bad ``--allow-host`` among good ones is refused before anything starts."""
    check_http_options("127.0.0.1", 0, None, ["myhost", "myhost:8080"])
    with pytest.raises(InvalidInputError, match="not a URL"):
        check_http_options("127.0.0.1", 0, None, ["myhost", "http://myhost"])


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "::", ""])
def test_loopback_and_wildcard_binds_accept_only_local_names(host: str) -> None:
    """A wildcard address is no Host a client sends: only this machine's names are accepted."""
    security = transport_security(host, [])
    assert security.enable_dns_rebinding_protection
    assert security.allowed_hosts == LOCAL_PATTERNS


def test_a_bound_address_and_allowed_hosts_are_accepted_with_their_origins() -> None:
    """The address it was told to bind joins the local names and the --allow-host values, each
    also as an http and an https Origin."""
    security = transport_security("192.0.2.7", ["MyHost:8080"])
    assert security.allowed_hosts == [
        *LOCAL_PATTERNS,
        "myhost:8080",
        "192.0.2.7",
        "192.0.2.7:*",
    ]
    assert security.allowed_origins is not None
    assert {"http://myhost:8080", "https://myhost:8080", "https://192.0.2.7:*"} <= set(
        security.allowed_origins
    )
    assert len(security.allowed_origins) == 2 * len(security.allowed_hosts)
