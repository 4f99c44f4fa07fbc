"""Which directories a call may run in: the ``allowed_roots`` policy for a call's ``cwd``.

A call's ``cwd`` and the allowed roots are compared as real paths (symlinks resolved, ``..``
gone), so a symlink inside a root that points outside it leads outside, and is refused. The
policy has three states: no roots (None) lets a call run in any directory; an empty list lets
no call choose its directory (a server over HTTP without ``[server] allowed_roots``); a list
lets it run in a root or below one.

Pure: the caller resolves the real paths (``os.path.realpath``) and passes them in; this module
only compares strings. It never touches the file system.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from .errors import InvalidInputError

__all__ = ["check_under_roots", "is_under"]


def is_under(path: str, root: str) -> bool:
    """Whether the absolute, normalised `path` is `root` or lies below it (by whole names:
    ``/srv/ab`` is not under ``/srv/a``)."""
    return path == root or path.startswith(root.rstrip(posixpath.sep) + posixpath.sep)


def check_under_roots(real_cwd: str, *, requested: str, roots: Sequence[str] | None) -> None:
    """Refuse a call directory the roots do not allow.

    Args:
        real_cwd: the call's directory as a real path.
        requested: the directory as the caller wrote it (named in the error).
        roots: the allowed roots as real paths; None: any directory; empty: none at all.

    Raises:
        InvalidInputError: `real_cwd` lies under none of `roots`; the message names the
            directory, where it leads, the roots, and how the operator allows it.
    """
    if roots is None or any(is_under(real_cwd, root) for root in roots):
        return
    if not roots:
        raise InvalidInputError(
            f"cwd: this server runs calls in a directory of their own only under its allowed "
            f"roots, and it has none, so {requested!r} is refused (a remote client could "
            "otherwise point a CLI at any directory of the machine); leave cwd out, or ask the "
            "server's operator to set [server] allowed_roots in the config file (or "
            "--allow-root DIR)"
        )
    leads = "" if real_cwd == requested else f" (which leads to {real_cwd!r})"
    raise InvalidInputError(
        f"cwd: {requested!r}{leads} is not under this server's allowed roots "
        f"({', '.join(roots)}); choose a directory under one of them, or ask the server's "
        "operator to add a root to [server] allowed_roots (or --allow-root DIR)"
    )
