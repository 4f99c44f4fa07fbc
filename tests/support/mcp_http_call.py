"""A throwaway MCP client process: `python mcp_http_call.py URL TOKEN MODE MODEL PROMPT`.

It connects to a streamable HTTP server with the SDK client (MODE: 2026-07-28 or legacy), calls
`execute_llm` with a progress callback, prints "progress" once the first streamed text arrives
(the response stream is open), then the result's text. Tests kill it mid-call (SIGKILL): the
kernel drops its connections with no MCP shutdown, no DELETE and no cancellation notice.
"""

import sys

import httpx2
import trio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, token: str, mode: str, model: str, prompt: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    announced = False

    async def progress(_progress: float, _total: float | None, message: str | None) -> None:
        nonlocal announced
        if message and not announced:
            announced = True
            print("progress", flush=True)

    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        arguments = {"model": model, "prompt": prompt}
        result = await client.call_tool("execute_llm", arguments, progress_callback=progress)
        print("".join(c.text for c in result.content if c.type == "text"), flush=True)


if __name__ == "__main__":
    trio.run(main, *sys.argv[1:6])
