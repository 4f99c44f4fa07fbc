"""The test Redis itself: a real server answers on loopback, restarts on its port, and is gone after."""

from __future__ import annotations

import socket

import coredis

from .support.redis import RedisServer


def _ping(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"PING\r\n")
        return conn.recv(64)


async def test_coredis_on_trio_talks_to_the_test_server(redis_server: RedisServer) -> None:
    client = coredis.Redis.from_url(redis_server.url, decode_responses=True)
    async with client:
        await client.set("llminst:probe", "1")
        assert await client.incrbyfloat("llminst:probe", 0.5) == 1.5


def test_restart_keeps_the_port_and_stop_frees_it(redis_server: RedisServer) -> None:
    first_pid = redis_server.pid
    assert _ping(redis_server.port).startswith(b"+PONG")
    redis_server.restart()
    assert redis_server.pid != first_pid
    assert _ping(redis_server.port).startswith(b"+PONG")
    redis_server.stop()
    try:
        _ping(redis_server.port)
    except OSError:
        pass
    else:
        raise AssertionError("redis-server still answers after stop()")
