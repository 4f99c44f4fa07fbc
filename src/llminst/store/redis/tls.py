"""TLS for a Redis store: the options of a ``rediss://``, ``rediss+sentinel://`` or
``rediss+cluster://`` URL (`TlsOptions`) and the `ssl.SSLContext` they make (`ssl_context`).

A ``rediss`` URL speaks TLS to every server it reaches: the server, or the sentinels and the
primary they name, or every node of the cluster. Its query may carry (the names redis-py and
coredis use):

* ``ssl_ca_certs=PATH``: the CA file (or directory) the servers' certificates are checked
  against (default: the system's CAs);
* ``ssl_certfile=PATH`` and ``ssl_keyfile=PATH``: a client certificate and its key, for
  servers that ask for one (``tls-auth-clients yes``);
* ``ssl_cert_reqs=required|none``: whether the server's certificate is verified (default
  ``required``; ``none`` turns the check off: an encrypted but unauthenticated link);
* ``ssl_check_hostname=true|false``: whether the certificate must name the host (or IP) it
  is reached at (default ``true``; ``false`` for a cluster or a sentinel set whose servers
  announce addresses their certificates do not name).

What it must never do: turn a check off that the URL did not, read a file before a store is
opened (a path is checked when the context is made, as the store connects), or accept a TLS
option on a plain ``redis`` URL (it would be silently ignored).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping, Sequence

from attrs import frozen

__all__ = ["TLS_OPTIONS", "TlsOptions", "TlsProblemError", "ssl_context", "tls_options"]

TLS_OPTIONS = (
    "ssl_ca_certs",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_cert_reqs",
    "ssl_check_hostname",
)
_CERT_REQS = {"required": ssl.CERT_REQUIRED, "none": ssl.CERT_NONE}
_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


class TlsProblemError(ValueError):
    """A TLS option that cannot be used: `problem` names it, `fix` says what to give."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem}; {fix}")
        self.problem = problem
        self.fix = fix


@frozen(kw_only=True)
class TlsOptions:
    """How a ``rediss`` URL's connections check the servers (see the module docstring)."""

    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    verify: bool = True
    check_hostname: bool = True


def tls_options(options: Mapping[str, Sequence[str]], *, tls: bool) -> TlsOptions | None:
    """The TLS options among a URL's query `options` (None for a plain ``redis`` URL).

    Raises:
        TlsProblemError: a TLS option on a plain URL, or a value it does not take.
    """
    given = {name: values[-1] for name, values in options.items() if name in TLS_OPTIONS}
    if not tls:
        if given:
            raise TlsProblemError(
                f"{', '.join(sorted(given))} needs TLS",
                "write rediss:// (or rediss+sentinel://, rediss+cluster://)",
            )
        return None
    reqs = given.get("ssl_cert_reqs", "required").lower()
    if reqs not in _CERT_REQS:
        raise TlsProblemError(f"ssl_cert_reqs is {reqs!r}", "give required or none")
    hostname = given.get("ssl_check_hostname", "true").lower()
    if hostname not in _BOOLS:
        raise TlsProblemError(f"ssl_check_hostname is {hostname!r}", "give true or false")
    if ("ssl_certfile" in given) != ("ssl_keyfile" in given):
        raise TlsProblemError(
            "a client certificate needs both ssl_certfile and ssl_keyfile", "give both or neither"
        )
    verify = _CERT_REQS[reqs] == ssl.CERT_REQUIRED
    return TlsOptions(
        ca_certs=given.get("ssl_ca_certs"),
        certfile=given.get("ssl_certfile"),
        keyfile=given.get("ssl_keyfile"),
        verify=verify,
        check_hostname=verify and _BOOLS[hostname],
    )


def ssl_context(options: TlsOptions) -> ssl.SSLContext:
    """The client context `options` describe.

    Raises:
        TlsProblemError: a CA, certificate or key file that cannot be read or used.
    """
    context = ssl.create_default_context()
    context.check_hostname = options.check_hostname
    context.verify_mode = ssl.CERT_REQUIRED if options.verify else ssl.CERT_NONE
    try:
        if options.ca_certs and os.path.isdir(options.ca_certs):
            context.load_verify_locations(capath=options.ca_certs)
        elif options.ca_certs:
            context.load_verify_locations(cafile=options.ca_certs)
    except (OSError, ssl.SSLError) as exc:
        raise TlsProblemError(
            f"ssl_ca_certs {options.ca_certs} cannot be used ({exc.__class__.__name__}: {exc})",
            "give a readable PEM file of the CA that signed the servers' certificates",
        ) from None
    try:
        if options.certfile and options.keyfile:
            context.load_cert_chain(options.certfile, options.keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise TlsProblemError(
            f"ssl_certfile {options.certfile} / ssl_keyfile {options.keyfile} cannot be used "
            f"({exc.__class__.__name__}: {exc})",
            "give a readable PEM certificate and its key",
        ) from None
    return context
