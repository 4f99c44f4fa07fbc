"""An MCP client transport over the pipes of a server process the test started itself.

The SDK's `stdio_client` spawns (and reaps) the server on its own, which hides the server's PID
and exit code; with this transport the test owns the process: it can signal it, wait for it and
read its exit code, while the SDK client still speaks to it over stdin/stdout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import mcp_types
import trio
from mcp.client._transport import TransportStreams
from mcp.shared.message import SessionMessage


@asynccontextmanager
async def process_transport(proc: trio.Process) -> AsyncIterator[TransportStreams]:
    """Yield the (read, write) streams of an SDK client talking to `proc` over its pipes."""
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout
    to_client, client_reads = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    client_writes, to_server = anyio.create_memory_object_stream[SessionMessage](0)

    async def read_lines() -> None:
        buffer = b""
        async with to_client:
            while True:
                try:
                    data = await stdout.receive_some(65536)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
                if not data:
                    return  # the server closed stdout: the client sees the connection end
                *lines, buffer = (buffer + data).split(b"\n")
                for line in lines:
                    if line.strip():
                        message = mcp_types.jsonrpc_message_adapter.validate_json(line)
                        await to_client.send(SessionMessage(message))

    async def write_lines() -> None:
        async with to_server:
            async for item in to_server:
                data = item.message.model_dump_json(by_alias=True, exclude_unset=True)
                try:
                    await stdin.send_all(data.encode() + b"\n")
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    await to_client.aclose()  # the server is gone: end the client's reads
                    return

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_lines)
        nursery.start_soon(write_lines)
        try:
            yield client_reads, client_writes
        finally:
            nursery.cancel_scope.cancel()
