"""Config files for `llminst --config`: written from plain dicts with tomli_w, never by hand.

`write_config(path, models={"tree": {"command": [...], "env": {...}}}, settings={...})` gives
the TOML llminst reads (``[settings]``, ``[server]``, ``[store]``, ``[models.NAME]``); tuples
become arrays. Unless told otherwise, ``[store] path`` is a file next to the config: a server the
SDK's stdio client starts gets only HOME and PATH from the tests' environment (not the
XDG_DATA_HOME the conftest sets), and must still never record into the user's own store.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w


def write_config(
    path: Path,
    *,
    models: Mapping[str, Mapping[str, Any]] | None = None,
    settings: Mapping[str, Any] | None = None,
    server: Mapping[str, Any] | None = None,
    store: Mapping[str, Any] | None = None,
    budget: Mapping[str, Any] | None = None,
) -> Path:
    """Write a config file at `path` (tables left out when not given, but for ``[store]``, whose
    path defaults to ``llminst.sqlite3`` beside the config); returns `path`."""
    if store is None:
        store = {"path": str(path.parent.resolve() / "llminst.sqlite3")}
    document: dict[str, Any] = {}
    for table, content in (
        ("settings", settings),
        ("server", server),
        ("store", store),
        ("budget", budget),
    ):
        if content is not None:
            document[table] = dict(content)
    if models is not None:
        document["models"] = {name: dict(fields) for name, fields in models.items()}
    path.write_text(tomli_w.dumps(document))
    return path
