"""A CLI that bills: answers in claude's stream-json with the usage (and cost) it reports.

`billing_cli(folder, name, cost_usd=...)` is a model whose CLI prints like claude's stream-json:
an ``assistant`` message with the answer ``paid: PROMPT``, then a ``result`` line with it and a ``usage`` computed from the prompt by `usage_for`
(so a test knows what the ledger must sum without reading the CLI's output), with
``total_cost_usd`` when `cost_usd` is given. Each start is logged to ``folder/NAME.spawns``
(count with `support.counting.spawns`). A prompt starting with ``fail`` makes it report an
error (exit 1), still with its usage.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from llminst import ModelSpec
from llminst._core.spec import OutputFormat

__all__ = ["billing_cli", "usage_for"]

_SCRIPT = """\
import json, os, sys
with open(os.environ["SPAWN_LOG"], "a") as log:
    log.write("started\\n")
prompt = sys.argv[-1]
usage = {
    "input_tokens": len(prompt),
    "output_tokens": 2 * len(prompt) + 1,
    "cache_read_input_tokens": 3,
    "cache_creation_input_tokens": 5,
    "output_tokens_details": {"thinking_tokens": 7},
}
failed = prompt.startswith("fail")
answer = "paid: " + prompt
if not failed:  # claude prints the message, then the result line
    print(json.dumps({"type": "assistant", "message": {"content": [{"type": "text", "text": answer}]}}))
line = {"type": "result", "subtype": "error" if failed else "success", "is_error": failed,
        "result": answer, "usage": usage, "session_id": "s1"}
if os.environ.get("COST_USD"):
    line["total_cost_usd"] = float(os.environ["COST_USD"])
print(json.dumps(line), flush=True)
sys.exit(1 if failed else 0)
"""


def usage_for(prompt: str) -> dict[str, int]:
    """The token counts the billing CLI reports for `prompt`, normalized as the ledger sums them."""
    return {
        "input_tokens": len(prompt),
        "output_tokens": 2 * len(prompt) + 1,
        "cache_read_tokens": 3,
        "cache_write_tokens": 5,
        "reasoning_tokens": 7,
    }


def billing_cli(
    folder: Path, name: str, *, cost_usd: float | None = None, **fields: Any
) -> ModelSpec:
    """The billing CLI as model `name` (`fields` are further spec fields)."""
    script = folder / f"{name}_billing.py"
    script.write_text(_SCRIPT)
    env = {"SPAWN_LOG": str(folder / f"{name}.spawns")}
    if cost_usd is not None:
        env["COST_USD"] = repr(cost_usd)
    return ModelSpec(
        name=name,
        command=(sys.executable, str(script)),
        prompt_separator="--",
        output_format=OutputFormat.CLAUDE_STREAM_JSON,
        env=env,
        **fields,
    )
