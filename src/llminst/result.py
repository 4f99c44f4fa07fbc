"""Compatibility shim: removed when issue 11 lands (`CallResult` lives in `llminst._core.result`)."""

from ._core.result import CallResult

__all__ = ["CallResult"]
