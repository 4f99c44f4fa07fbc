"""TLS for the tests' redis-servers: a CA of the test's own (trustme), each server's
certificate (naming 127.0.0.1 and localhost) and a client certificate, as PEM files.

`TlsFiles.server_args(port)` are the ``redis-server`` options that add a TLS port beside the
plain one (the plain port stays for the fixtures' readiness check and `redis-cli`; the store
under test reaches the TLS port only); `TlsFiles.query()` is the URL query a ``rediss`` store
takes to trust that CA (and, with ``client=True``, to present the client certificate).

What it must never do: write outside its folder, or name a host the certificates do not.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import trustme
from attrs import frozen

__all__ = ["TlsFiles", "make_tls_files"]


@frozen
class TlsFiles:
    """The PEM files of one test's CA, server and client."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_args(self, tls_port: int, *, auth_clients: str = "no") -> tuple[str, ...]:
        """redis-server options for a TLS port (`auth_clients`: ``yes``, ``optional``, ``no``)."""
        return (
            "--tls-port", str(tls_port),
            "--tls-cert-file", str(self.server_cert),
            "--tls-key-file", str(self.server_key),
            "--tls-ca-cert-file", str(self.ca),
            "--tls-auth-clients", auth_clients,
        )  # fmt: skip

    def query(self, *, client: bool = False, **more: str) -> str:
        """``ssl_ca_certs=...`` (and the client certificate and key) as a URL query."""
        options = {"ssl_ca_certs": str(self.ca), **more}
        if client:
            options |= {"ssl_certfile": str(self.client_cert), "ssl_keyfile": str(self.client_key)}
        return urlencode(options)


def make_tls_files(folder: Path) -> TlsFiles:
    """A new CA and, signed by it, a server certificate for 127.0.0.1/localhost and a client
    certificate, written into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("llminst-test-client@example.org")
    files = TlsFiles(
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
    )
    ca.cert_pem.write_to_path(str(files.ca))
    server.cert_chain_pems[0].write_to_path(str(files.server_cert))
    server.private_key_pem.write_to_path(str(files.server_key))
    client.cert_chain_pems[0].write_to_path(str(files.client_cert))
    client.private_key_pem.write_to_path(str(files.client_key))
    return files
