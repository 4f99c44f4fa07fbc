"""A Redis store over TLS: ``rediss://`` (one server) and ``rediss+cluster://`` (every node),
the CA, client certificate and checks given as URL options, each mistake one clear line.

Real redis-servers with a TLS port (certificates from a CA of the test's own, `support.
redis_tls`); the store reaches the TLS port only, so a plain connection could not pass."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import trustme

from llminst._core.budget import ModelSpend
from llminst._core.errors import ConfigError
from llminst._core.records import CallRecord, CallState
from llminst.store.redis import RedisLocation, RedisStore, StoreUnreachableError

from ..support.paths import LLMINST
from ..support.redis import RedisServer
from ..support.redis_tls import TlsFiles, make_tls_files
from ..support.redis_topologies import ClusterSet, SentinelSet
from ..support.serve import free_port


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return make_tls_files(tmp_path / "tls")


def tls_server(tmp_path: Path, files: TlsFiles, *, auth_clients: str) -> tuple[RedisServer, int]:
    tls_port = free_port()
    server = RedisServer(
        tmp_path / "redis", extra=files.server_args(tls_port, auth_clients=auth_clients)
    )
    return server, tls_port


async def use_store(url: str) -> None:
    """Open the store at `url`, record an ended call with its output, read both back."""
    store = await RedisStore.open(url)
    try:
        call = CallRecord(call_id="t1", model="echo", state=CallState.QUEUED, created_at=100.0)
        await store.add_call(call)
        await store.append_output("t1", "héllo over TLS")
        await store.update_call("t1", state=CallState.SUCCEEDED, attempts=1, cost_usd=0.25)
        got = await store.get_call("t1")
        assert got is not None and got.state is CallState.SUCCEEDED
        assert await store.read_output("t1") == "héllo over TLS"
        assert await store.period_spend("daily", start=0.0) == [
            ModelSpend(model="echo", cost_usd=0.25, priced=1)
        ]
    finally:
        await store.aclose()


# -- the URL ----------------------------------------------------------------------------------


def test_every_topology_has_a_tls_form_with_its_options() -> None:
    single = RedisLocation.parse("rediss://h:6380/1?ssl_ca_certs=/ca.pem")
    sentinel = RedisLocation.parse(
        "rediss+sentinel://s1:26379,s2:26379/mymaster/2?ssl_check_hostname=false"
    )
    cluster = RedisLocation.parse(
        "rediss+cluster://n1:7000,n2:7001?ssl_certfile=/c.pem&ssl_keyfile=/c.key&prefix=a:"
    )
    assert single.tls and sentinel.tls and cluster.tls
    assert single.shown == "rediss://h:6380/1"
    assert sentinel.shown == "rediss+sentinel://s1:26379,s2:26379/mymaster/2"
    assert cluster.shown == "rediss+cluster://n1:7000,n2:7001" and cluster.prefix == "{a}:"
    assert single.tls_options is not None and single.tls_options.ca_certs == "/ca.pem"
    assert sentinel.tls_options is not None and not sentinel.tls_options.check_hostname
    assert cluster.tls_options is not None and cluster.tls_options.keyfile == "/c.key"
    # Verified with the hostname checked unless the URL says otherwise.
    assert single.tls_options.verify and single.tls_options.check_hostname
    plain = RedisLocation.parse("redis+cluster://n1:7000")
    assert not plain.tls and plain.tls_options is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis://h:6379?ssl_ca_certs=/ca.pem", "ssl_ca_certs needs TLS); write rediss://"),
        ("redis+cluster://h:7000?ssl_cert_reqs=none", "ssl_cert_reqs needs TLS"),
        ("rediss://h?ssl_cert_reqs=maybe", "ssl_cert_reqs is 'maybe'); give required or none"),
        ("rediss+sentinel://h:1/s?ssl_check_hostname=perhaps", "give true or false"),
        ("rediss+cluster://h:1?ssl_certfile=/c.pem", "needs both ssl_certfile and ssl_keyfile"),
        ("rediss://h?ssl_ca_file=/ca.pem", "unknown option(s) ssl_ca_file"),
    ],
)
def test_a_tls_option_that_cannot_be_used_is_a_config_error_naming_it(
    url: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        RedisLocation.parse(url)
    assert problem in str(caught.value), str(caught.value)
    assert caught.value.kind == "config"  # as every unusable store is


# -- one server -------------------------------------------------------------------------------


async def test_a_rediss_store_with_the_ca_and_a_client_certificate_works(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    """The server asks for a client certificate (tls-auth-clients yes): the URL gives it."""
    server, tls_port = tls_server(tmp_path, tls_files, auth_clients="yes")
    with server:
        await use_store(f"rediss://127.0.0.1:{tls_port}/0?{tls_files.query(client=True)}")


async def test_a_rediss_store_that_cannot_verify_or_is_refused_says_so_in_one_line(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    server, tls_port = tls_server(tmp_path, tls_files, auth_clients="yes")
    with server:
        base = f"rediss://127.0.0.1:{tls_port}/0"
        with pytest.raises(StoreUnreachableError) as untrusted:  # the system CAs only
            await RedisStore.open(base)
        assert str(untrusted.value).startswith(f"store {base} is unreachable (")
        with pytest.raises(StoreUnreachableError) as no_client_cert:
            await RedisStore.open(f"{base}?{tls_files.query()}")
        assert str(no_client_cert.value).startswith(f"store {base} is unreachable (")
        missing = tmp_path / "no-such-ca.pem"
        with pytest.raises(StoreUnreachableError) as unreadable:
            await RedisStore.open(f"{base}?ssl_ca_certs={missing}")
        assert str(unreadable.value).startswith(f"store {base} ssl_ca_certs {missing} cannot be")
        assert "give a readable PEM file" in str(unreadable.value)


async def test_the_hostname_is_checked_unless_the_url_turns_it_off(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    """A certificate that names only 'elsewhere.example': refused at 127.0.0.1, accepted with
    ssl_check_hostname=false (still verified against the CA)."""
    ca = trustme.CA()
    elsewhere = ca.issue_cert("elsewhere.example")
    files = TlsFiles(
        ca=tmp_path / "ca2.pem",
        server_cert=tmp_path / "elsewhere.pem",
        server_key=tmp_path / "elsewhere.key",
        client_cert=tls_files.client_cert,
        client_key=tls_files.client_key,
    )
    ca.cert_pem.write_to_path(str(files.ca))
    elsewhere.cert_chain_pems[0].write_to_path(str(files.server_cert))
    elsewhere.private_key_pem.write_to_path(str(files.server_key))
    server, tls_port = tls_server(tmp_path, files, auth_clients="no")
    with server:
        base = f"rediss://127.0.0.1:{tls_port}/0"
        with pytest.raises(StoreUnreachableError, match="unreachable"):
            await RedisStore.open(f"{base}?{files.query()}")
        await use_store(f"{base}?{files.query(ssl_check_hostname='false')}")


def test_llminst_run_records_its_call_in_a_rediss_store(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    server, tls_port = tls_server(tmp_path, tls_files, auth_clients="yes")
    url = f"rediss://127.0.0.1:{tls_port}/0?{tls_files.query(client=True)}"
    with server:
        ran = subprocess.run(
            [*LLMINST, "run", "--store", url, "echo", "over tls"],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        listed = subprocess.run(
            [*LLMINST, "calls", "--store", url],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert " succeeded " in listed.stdout and "echo" in listed.stdout


# -- a cluster --------------------------------------------------------------------------------


async def test_a_rediss_cluster_store_speaks_tls_to_every_node(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    """Three nodes, the cluster bus over TLS too; the store is given the TLS ports only, and
    the nodes it finds are reached over TLS as well (the slots move it to the one that holds
    its hash slot)."""
    with ClusterSet(tmp_path / "cluster", tls=tls_files) as cluster:
        assert cluster.url.startswith("rediss+cluster://")
        await use_store(cluster.url)
        await use_store(cluster.url + "&prefix=team-b:")  # another slot, maybe another node


# -- sentinel ---------------------------------------------------------------------------------


async def test_a_rediss_sentinel_store_speaks_tls_to_the_sentinel_and_the_primary(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    """The sentinel's TLS port is the only address given; it names the primary's TLS port
    (it watches over TLS), which the store then reaches over TLS with the same options."""
    with SentinelSet(tmp_path / "sentinel", password="pw", tls=tls_files) as servers:
        assert servers.url.startswith("rediss+sentinel://")
        await use_store(servers.url)
