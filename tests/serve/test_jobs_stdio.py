"""A job started over stdio outlives its client: the client goes, the server finishes the job
before it exits, and a new client (a new `llminst serve` on the same store) reads the result.

Real `llminst serve` processes, the MCP SDK client over their pipes, a real SQLite file.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import trio
from mcp.client import Client

from ..support.mcp_pipes import process_transport
from ..support.paths import LLMINST

# Long enough that the first client is gone well before the answer comes.
SLOW = "[[echo:sleep=3]] answered after the client left"


async def _serve(store_file: Path) -> trio.Process:
    return await trio.lowlevel.open_process(
        [*LLMINST, "serve", "--store", str(store_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


async def _tool(client: Client, name: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    assert not result.is_error, result.content
    structured = result.structured_content
    assert structured is not None
    return structured


async def test_a_job_outlives_its_stdio_client_and_a_new_client_reads_the_result(
    tmp_path: Path,
) -> None:
    store_file = tmp_path / "calls.sqlite3"
    first = await _serve(store_file)
    async with Client(process_transport(first)) as client:
        started = await _tool(client, "start_llm", model="echo", prompt=SLOW)
    call_id = started["call_id"]
    assert first.stdin is not None
    await first.stdin.aclose()  # the client is gone: the server's stdin is closed

    second = await _serve(store_file)
    try:
        async with Client(process_transport(second)) as client:
            with trio.fail_after(120):
                while True:
                    answer = await _tool(client, "get_llm_result", call_id=call_id, wait_s=1)
                    if answer["done"]:
                        break
                    await trio.sleep(0.2)
    finally:
        second.kill()
        await second.wait()
    with trio.fail_after(60):
        await first.wait()  # it exits once its job is done
    assert answer["state"] == "succeeded"
    assert answer["output"] == "answered after the client left"
    assert answer["result"]["exit_code"] == 0
    assert first.returncode == 0
