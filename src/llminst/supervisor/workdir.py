"""A call's working directory: checked on the file system before anything starts.

`resolve_call_directory` turns the directory a caller asked for into the real path the CLI will
run in (symlinks resolved), refusing one that does not exist, is not a directory or cannot be
entered, and one outside the allowed roots (`_core.roots`, compared as real paths). What it
must never do: start anything, or let a call through to a directory it did not check (the CLI
gets the resolved path, so a symlink swapped afterwards cannot move the call).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .._core.errors import InvalidInputError
from .._core.roots import check_under_roots

__all__ = ["resolve_call_directory"]


def resolve_call_directory(requested: object, *, roots: Sequence[str] | None) -> str:
    """The real path of the directory a call asked to run in.

    Args:
        requested: the directory as the caller gave it (relative paths are relative to this
            process's working directory).
        roots: the allowed roots as given (resolved here); None: any directory; empty: none.

    Raises:
        InvalidInputError: `requested` is not a non-empty string, does not exist, is not a
            directory, cannot be entered, or lies outside `roots`; the message names it.
    """
    if not isinstance(requested, str):
        raise InvalidInputError(
            f"cwd must be a string (a directory), got {type(requested).__name__}"
        )
    if not requested.strip():
        raise InvalidInputError("cwd is empty; give a directory, or leave cwd out")
    if "\x00" in requested:
        raise InvalidInputError("cwd contains a NUL character, which no path can; remove it")
    real = os.path.realpath(requested)
    real_roots = None if roots is None else [os.path.realpath(root) for root in roots]
    # The roots first: a refused directory's existence is not told to a remote client.
    check_under_roots(real, requested=requested, roots=real_roots)
    _check_directory(requested, real)
    return real


def _check_directory(requested: str, real: str) -> None:
    leads = "" if real == requested else f" (which leads to {real!r})"
    if not os.path.exists(real):
        raise InvalidInputError(
            f"cwd: no such directory: {requested!r}{leads}; give an existing directory "
            "(the CLI runs there)"
        )
    if not os.path.isdir(real):
        raise InvalidInputError(
            f"cwd: {requested!r}{leads} is not a directory; give the directory the CLI "
            "should run in"
        )
    if not os.access(real, os.X_OK):
        raise InvalidInputError(
            f"cwd: cannot enter {requested!r}{leads} (permission denied); give a directory "
            "this server's user may enter"
        )
