"""llminst: run LLM command-line tools as supervised trio subprocesses.

The public API, re-exported by name::

    import llminst, trio

    async def main():
        async with llminst.open_supervisor() as supervisor:
            result = await supervisor.run("echo", "hello")
            print(result.output)

    trio.run(main)

Names are imported lazily so that `python -m llminst.echo` (started once per call) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "open_supervisor": ".supervisor",
    "Supervisor": ".supervisor",
    "CallStream": ".supervisor",
    "AttemptStarted": ".supervisor",
    "RetryScheduled": ".supervisor",
    "FallbackStarted": ".supervisor",
    "StreamEvent": ".supervisor",
    "CallResult": "._core.result",
    "CompareResult": "._core.fanout",
    "ModelSpec": "._core.spec",
    "PromptMode": "._core.spec",
    "OutputFormat": "._core.spec",
    "Settings": "._core.spec",
    "BUILTIN_MODELS": "._core.builtins",
    "TimeoutCategory": "._core.timeouts",
    "BackoffPolicy": "._core.backoff",
    "TextDelta": "._core.events",
    "RetryNotice": "._core.events",
    "estimate_tokens": "._core.tokens",
    "TokenEstimate": "._core.tokens",
    "load_config": ".configfile",
    "load_models": ".configfile",
    "configure_logging": ".logs",
    "LLMError": "._core.errors",
    "InvalidInputError": "._core.errors",
    "ConfigError": "._core.errors",
    "UnknownModelError": "._core.errors",
    "CLINotFoundError": "._core.errors",
    "CredentialsMissingError": "._core.errors",
    "RateLimitedError": "._core.errors",
    "CallTimeoutError": "._core.errors",
    "ProcessFailedError": "._core.errors",
    "ApiUnreachableError": "._core.errors",
    "InvalidJSONSchemaError": "._core.errors",
    "JSONNotFoundError": "._core.errors",
    "JSONSchemaMismatchError": "._core.errors",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from ._core.backoff import BackoffPolicy
    from ._core.builtins import BUILTIN_MODELS
    from ._core.errors import (
        ApiUnreachableError,
        CallTimeoutError,
        CLINotFoundError,
        ConfigError,
        CredentialsMissingError,
        InvalidInputError,
        InvalidJSONSchemaError,
        JSONNotFoundError,
        JSONSchemaMismatchError,
        LLMError,
        ProcessFailedError,
        RateLimitedError,
        UnknownModelError,
    )
    from ._core.events import RetryNotice, TextDelta
    from ._core.fanout import CompareResult
    from ._core.result import CallResult
    from ._core.spec import ModelSpec, OutputFormat, PromptMode, Settings
    from ._core.timeouts import TimeoutCategory
    from ._core.tokens import TokenEstimate, estimate_tokens
    from .configfile import load_config, load_models
    from .logs import configure_logging
    from .supervisor import (
        AttemptStarted,
        CallStream,
        FallbackStarted,
        RetryScheduled,
        StreamEvent,
        Supervisor,
        open_supervisor,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llminst' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
