"""Fixtures for the `realmodel` tests: a real `llama-server` serving SmolLM2-135M on 127.0.0.1
and the real CLIs pointed at it (``tox -e realmodel`` builds the server and installs the CLIs).

A missing server, model or CLI fails the test with the command that provides it: never a skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from benchmarks.realmodel.clis import (
    cli_env,
    missing_clis,
    realcli_bin,
    write_codex_config,
    write_llminst_config,
)
from benchmarks.realmodel.llama import LlamaServer, run_llama_server
from benchmarks.realmodel.setup import Paths, cache_dir


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """llama-server on a free loopback port for the whole session; stopped at its end."""
    paths = Paths.under(cache_dir())
    if missing := paths.missing():
        pytest.fail("; ".join(missing), pytrace=False)
    log = tmp_path_factory.mktemp("llama") / "llama-server.log"
    with run_llama_server(paths.server, paths.model, log) as server:
        yield server


@pytest.fixture(scope="session")
def real_bin() -> Path:
    folder = realcli_bin()
    if absent := missing_clis(folder):
        pytest.fail(
            f"real CLIs missing in {folder}: {', '.join(absent)}; run `python "
            "tests/realcli/install.py` or set LLMINST_REALCLI_CACHE / LLMINST_REALCLI_BIN",
            pytrace=False,
        )
    return folder


@pytest.fixture
def model_env(tmp_path: Path, real_bin: Path, llama: LlamaServer) -> dict[str, str]:
    """A private HOME (codex's config pointing at the server) and every CLI pointed at it."""
    home = tmp_path / "home"
    home.mkdir()
    write_codex_config(home, llama)
    return cli_env(real_bin, home, llama)


@pytest.fixture
def model_config(tmp_path: Path) -> Path:
    """The llminst config of the four models (claude's bare launch), store in tmp_path."""
    return write_llminst_config(tmp_path / "llminst.toml", tmp_path / "llminst.sqlite3")
