"""Fan-out: three 1-s calls at once through `compare` against one 1-s call, in the same run.

This section owns the fan-out measurement. A stand-in that sleeps one second and answers is
configured as three models; per repetition, alternating: one call (``Supervisor.run``), then the
three at once (``Supervisor.compare``), then the same two over the MCP SDK's in-memory client
(``execute_llm`` and ``compare_llms``). The figure is the compare's wall time as a multiple of
one call's (goal: within 10 %, i.e. at most 1.10 x), so the stand-in's own second and the
machine's load cancel out.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from mcp import Client

from llminst import open_supervisor
from llminst.server import ServerOptions, create_server

from .common import Context, model, settings, table
from .stats import ratio, summarize

TITLE = "Fan-out: three 1-s calls at once"
MODELS = ["fan-a", "fan-b", "fan-c"]


async def _wall(one: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await one()
    return time.perf_counter() - start


async def run(ctx: Context) -> dict[str, Any]:
    call_s, reps = ctx.pick((1.0, 9), (0.25, 2))
    argv = ctx.standin.argv("sleep", call_s)
    specs = {name: model(name, argv) for name in MODELS}
    walls: dict[str, list[float]] = {
        m: [] for m in ("api-one", "api-compare", "mcp-one", "mcp-compare")
    }
    async with open_supervisor(models=specs, settings=settings()) as supervisor:

        async def one() -> None:
            assert (await supervisor.run("fan-a", "x", timeout=60)).output == "ok\n"

        async def three() -> None:
            compared = await supervisor.compare("x", MODELS, timeout=60)
            assert compared.answered == tuple(MODELS), compared

        await one()  # warm-up
        for _ in range(reps):
            walls["api-one"].append(await _wall(one))
            walls["api-compare"].append(await _wall(three))
    server = create_server(ServerOptions(models=specs, settings=settings()))
    async with Client(server) as client:

        async def mcp_one() -> None:
            result = await client.call_tool("execute_llm", {"model": "fan-a", "prompt": "x"})
            assert not result.is_error, result

        async def mcp_three() -> None:
            result = await client.call_tool("compare_llms", {"models": MODELS, "prompt": "x"})
            assert result.structured_content["answered"] == MODELS, result

        await mcp_one()  # warm-up
        for _ in range(reps):
            walls["mcp-one"].append(await _wall(mcp_one))
            walls["mcp-compare"].append(await _wall(mcp_three))
    data: dict[str, Any] = {name: summarize(values) for name, values in walls.items()}
    for via in ("api", "mcp"):
        data[f"{via}-ratio"] = ratio(data[f"{via}-compare"]["median"], data[f"{via}-one"]["median"])
    data["call_s"] = call_s
    return {
        "title": TITLE,
        "about": (
            f"A stand-in that sleeps {call_s:g} s, configured as three models. Per repetition "
            f"({reps}, after a warm-up), alternating: one call, then the three at once with "
            "compare; through the Python API and through the MCP SDK's in-memory client "
            "(execute_llm vs compare_llms). Ratio = median compare wall / median one-call wall."
        ),
        "tables": [table(*_rows(data))],
        "data": data,
    }


def _rows(data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    columns = [
        "via",
        "one call s (median)",
        "3 at once s (median)",
        "3 at once s (max)",
        "x one call",
    ]
    rows = [
        [
            via,
            data[f"{via}-one"]["median"],
            data[f"{via}-compare"]["median"],
            data[f"{via}-compare"]["max"],
            data[f"{via}-ratio"],
        ]
        for via in ("api", "mcp")
    ]
    return columns, rows
