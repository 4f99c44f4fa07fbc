"""Compatibility shim: removed when issue 11 lands (the module is `llminst.server.arguments`)."""

from .server.arguments import ArgumentsModel, ToolBody, check_arguments, strict_tool

__all__ = ["ArgumentsModel", "ToolBody", "check_arguments", "strict_tool"]
