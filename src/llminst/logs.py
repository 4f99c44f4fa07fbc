"""Logging set-up: structlog events to stderr (or a file), never stdout.

llminst logs one named event per thing that happened (``llminst.attempt.started``,
``llminst.process.killed``, ...) with key-value context. Prompts and environment values are never
logged. An application that configured structlog itself keeps its configuration; otherwise the
first supervisor configures structlog to write warnings and errors to stderr, because structlog's
own default would print to stdout, which belongs to the MCP protocol.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Any, TextIO, cast

import structlog

__all__ = ["configure_logging", "ensure_logging", "get_logger"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def configure_logging(
    *, level: str = "info", fmt: str = "console", stream: TextIO | None = None
) -> None:
    """Send structlog (and stdlib logging) output to `stream` (default stderr).

    Args:
        level: debug, info, warning, error or critical.
        fmt: ``console`` (human) or ``json`` (one object per line).
        stream: where to write; stderr by default. Never pass stdout when serving over stdio.

    Raises:
        ValueError: unknown level or format.
    """
    try:
        numeric = _LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}; use one of: {', '.join(_LEVELS)}") from None
    if fmt not in ("console", "json"):
        raise ValueError(f"unknown log format {fmt!r}; use console or json")
    out = cast(TextIO, _BestEffort(stream or sys.stderr))
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    # Libraries we use (the MCP SDK, hypercorn) log through stdlib logging: keep them off stdout.
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    # Third-party chatter (the SDK logs every request at INFO) only shows when debugging.
    root.setLevel(logging.DEBUG if numeric <= logging.DEBUG else max(numeric, logging.WARNING))


class _BestEffort:
    """A stream wrapper whose writes never raise: a closed or broken stderr (the client went
    away, `| head`) must not turn a log line into a failure of the call being logged."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError):
            return 0

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()

    def isatty(self) -> bool:
        try:
            return self._stream.isatty()
        except (OSError, ValueError):
            return False


def ensure_logging() -> None:
    """Configure quiet stderr logging unless the application configured structlog already."""
    if not structlog.is_configured():
        configure_logging(level="warning")


def get_logger() -> Any:
    return structlog.get_logger("llminst")
