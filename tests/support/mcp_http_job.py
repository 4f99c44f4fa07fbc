"""A throwaway MCP client process that starts a job: `python mcp_http_job.py URL TOKEN MODEL PROMPT`.

It connects to a streamable HTTP server with the SDK client, calls `start_llm`, prints the
call_id, and waits to be killed (tests SIGKILL it: the kernel drops its connection with no MCP
shutdown, no DELETE and no cancellation notice). The job must outlive it.
"""

import sys

import httpx2
import trio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, token: str, model: str, prompt: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        result = await client.call_tool("start_llm", {"model": model, "prompt": prompt})
        print(result.structured_content["call_id"], flush=True)
        await trio.sleep_forever()


if __name__ == "__main__":
    trio.run(main, *sys.argv[1:5])
