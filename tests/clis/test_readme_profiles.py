"""README.md's claims about what the real CLIs may do, and its config examples, on the real CLIs.

The table in "What the CLIs may do" says what each built-in is allowed; the TOML examples under
it make claude, gemini and codex read-only, and "claude with a small local model" makes claude a
plain chat client. Here the installed CLIs run those exact settings (read from README.md) against
the fake APIs of tests/realcli, and the tests look at what each CLI did: the tools it offered its
model (recorded by the fake), the sandbox it told its model about, the commands it ran when the
model asked. Run with ``tox -e realcli`` or ``pytest -m realcli tests/clis/test_readme_profiles.py``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
from mcp import Client, StdioServerParameters

from llminst import BUILTIN_MODELS, ModelSpec

from ..realcli.fake_anthropic import FakeAnthropic, prompt_of
from ..realcli.fake_gemini import FakeGemini, gemini_env
from ..realcli.fake_openai_responses import FakeResponses, codex_config_toml
from ..realcli.harness import connect
from ..support.readme import PERMISSIONS, README, readme_config, section, toml_blocks
from ..support.tools import text_of

pytestmark = pytest.mark.realcli

SAFETY = "What the CLIs may do"
LOCAL = "claude with a small local model"
LOCAL_URL_IN_README = "http://127.0.0.1:8080"
# claude's write and run tools; the read-only profile must offer none of them.
CLAUDE_ACTING_TOOLS = {"Bash", "Edit", "Write", "NotebookEdit", "WebFetch"}
GEMINI_ACTING_TOOLS = {"run_shell_command", "write_file", "replace", "web_fetch"}
# A system prompt this short is the profile's own line plus claude's one-line preamble.
LOCAL_SYSTEM_PROMPT_MAX_CHARS = 400


def _profile(name: str) -> ModelSpec:
    return readme_config(SAFETY).models[name]


def _tool_prompt(tool: str, arguments: dict[str, str]) -> str:
    """A prompt the fake Anthropic API answers by calling claude's tool `tool` once."""
    return f"[[fake:tool={tool} {json.dumps(arguments)}]] please"


async def _ask(client: Client, model: str, prompt: str) -> str:
    result = await client.call_tool("execute_llm", {"model": model, "prompt": prompt})
    assert not result.is_error, text_of(result)
    return text_of(result)


def _first_request(fake: FakeAnthropic, prompt: str) -> dict[str, Any]:
    bodies = [r.body for r in fake.requests if isinstance(r.body, dict)]
    return next(b for b in bodies if prompt_of(b) == prompt)


def _system_chars(body: dict[str, Any]) -> int:
    system = body.get("system") or []
    return len(system) if isinstance(system, str) else sum(len(b.get("text", "")) for b in system)


# --- claude -------------------------------------------------------------------------------------


async def test_builtin_claude_runs_what_its_model_asks_without_asking(
    claude_env: dict[str, str], tmp_path: Path
) -> None:
    """The table's claude row: --dangerously-skip-permissions runs the model's Bash call, unasked."""
    marker = tmp_path / "made-by-builtin-claude"
    spec = attrs.evolve(BUILTIN_MODELS["claude"], cwd=str(tmp_path))
    async with connect(claude_env, spec) as client:
        answer = await _ask(client, "claude", _tool_prompt("Bash", {"command": f"touch {marker}"}))
    assert answer.startswith("Tool result:"), answer
    assert marker.exists()


async def test_read_only_claude_profile_reads_its_folder_and_nothing_else(
    claude_env: dict[str, str], fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    """README's read-only claude: no Bash/Write tools at all, Read inside its folder only."""
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "notes.txt").write_text("the notes in its folder")
    (tmp_path / "outside.txt").write_text("a file outside its folder")
    marker = folder / "made-by-read-only-claude"
    spec = attrs.evolve(_profile("claude"), cwd=str(folder))  # README's cwd is an example path
    run_prompt = _tool_prompt("Bash", {"command": f"touch {marker}"})
    async with connect(claude_env, spec) as client:
        ran = await _ask(client, "claude", run_prompt)
        wrote = await _ask(
            client, "claude", _tool_prompt("Write", {"file_path": str(marker), "content": "x"})
        )
        read = await _ask(
            client, "claude", _tool_prompt("Read", {"file_path": f"{folder}/notes.txt"})
        )
        read_outside = await _ask(
            client, "claude", _tool_prompt("Read", {"file_path": f"{tmp_path}/outside.txt"})
        )
    assert ran.startswith("Tool error:") and "No such tool available: Bash" in ran, ran
    assert wrote.startswith("Tool error:") and "No such tool available: Write" in wrote, wrote
    assert not marker.exists()
    assert read.startswith("Tool result:") and "the notes in its folder" in read, read
    assert read_outside.startswith("Tool error:"), read_outside
    assert "a file outside" not in read_outside
    offered = {tool["name"] for tool in _first_request(fake_anthropic, run_prompt)["tools"]}
    assert {"Read", "Grep", "Glob"} <= offered and not offered & CLAUDE_ACTING_TOOLS, offered


async def test_claude_local_profile_through_llminst_serve(
    claude_env: dict[str, str], fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    """README's claude-local block, as written, in a config file for `llminst serve` over stdio:
    the answer arrives through execute_llm; claude sent one request with no tools and a short
    system prompt; the built-in launch sends 20 times as much."""
    block = toml_blocks(section(README.read_text(), LOCAL))[0]
    assert LOCAL_URL_IN_README in block
    config = tmp_path / "config.toml"
    config.write_text(block.replace(LOCAL_URL_IN_README, fake_anthropic.url))
    prompt = f"a question for a small model ({tmp_path.name})"
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "llminst.cli", "--config", str(config), "serve"],
        env=claude_env,
    )
    async with Client(server) as client:
        answer = await _ask(client, "claude-local", prompt)
    assert answer == f"Echo: {prompt}"
    sent = [r.body for r in fake_anthropic.requests if prompt_of(r.body) == prompt]
    assert len(sent) == 1, f"{len(sent)} requests"
    local = sent[0]
    assert local["tools"] == [] and local["model"] == "smollm2"
    assert _system_chars(local) < LOCAL_SYSTEM_PROMPT_MAX_CHARS, local["system"]

    builtin_prompt = f"the same question, built-in launch ({tmp_path.name})"
    spec = attrs.evolve(BUILTIN_MODELS["claude"], cwd=str(tmp_path))
    async with connect(claude_env, spec) as client:
        await _ask(client, "claude", builtin_prompt)
    builtin = _first_request(fake_anthropic, builtin_prompt)
    local_bytes, builtin_bytes = len(json.dumps(local)), len(json.dumps(builtin))
    print(
        f"claude request: built-in {builtin_bytes} bytes, {len(builtin['tools'])} tools, "
        f"system {_system_chars(builtin)} chars; claude-local {local_bytes} bytes, "
        f"{len(local['tools'])} tools, system {_system_chars(local)} chars"
    )
    assert "Bash" in {tool["name"] for tool in builtin["tools"]}
    assert builtin_bytes > 20 * local_bytes


# --- gemini and codex ---------------------------------------------------------------------------


@pytest.fixture
def gemini_home(base_env: dict[str, str], fake_gemini: FakeGemini) -> dict[str, str]:
    """gemini with an API key and API-key auth chosen in settings.json, against the fake."""
    settings = Path(base_env["HOME"]) / ".gemini" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"security": {"auth": {"selectedType": "gemini-api-key"}}}))
    return {**base_env, **gemini_env(fake_gemini)}


def _gemini_tools(fake: FakeGemini, prompt: str) -> set[str]:
    """The function names gemini offered its model in the answer request carrying `prompt`."""
    for request in fake.requests:
        body = request.body
        if "streamGenerateContent" in request.path and prompt in json.dumps(body):
            return {f["name"] for t in body.get("tools", []) for f in t["functionDeclarations"]}
    raise AssertionError(f"no answer request carried {prompt!r}")


async def test_gemini_yolo_offers_acting_tools_the_read_only_profile_does_not(
    gemini_home: dict[str, str], fake_gemini: FakeGemini
) -> None:
    """The table's gemini row (--yolo: shell, writes, web fetch) against README's profile."""
    async with connect(gemini_home) as client:
        await _ask(client, "gemini", "which tools, built-in?")
    async with connect(gemini_home, _profile("gemini")) as client:
        await _ask(client, "gemini", "which tools, read-only?")
    builtin = _gemini_tools(fake_gemini, "which tools, built-in?")
    read_only = _gemini_tools(fake_gemini, "which tools, read-only?")
    assert builtin >= GEMINI_ACTING_TOOLS, builtin
    assert not read_only & GEMINI_ACTING_TOOLS, read_only
    assert {"read_file", "grep_search", "glob"} <= read_only


def _codex_sandbox(fake: FakeResponses, prompt: str) -> str:
    """The sandbox mode codex told its model about in the request carrying `prompt`."""
    for request in fake.requests:
        text = json.dumps(request.body)
        if prompt in text:
            found = re.search(r"`sandbox_mode` is `([a-z-]+)`", text)
            assert found, "codex no longer describes its sandbox to the model"
            return found.group(1)
    raise AssertionError(f"no request carried {prompt!r}")


async def test_codex_is_read_only_by_default_and_the_profile_keeps_it_so(
    base_env: dict[str, str], fake_responses: FakeResponses
) -> None:
    """The table's codex row (read-only sandbox by default, unless ~/.codex/config.toml says
    otherwise) and README's profile, whose --sandbox read-only wins over that file."""
    config = Path(base_env["HOME"]) / ".codex" / "config.toml"
    config.parent.mkdir()
    env = {**base_env, "OPENAI_API_KEY": "sk-fake-key-for-tests"}
    config.write_text(codex_config_toml(fake_responses))
    async with connect(env) as client:
        await _ask(client, "codex", "sandbox, plain config?")
    config.write_text('sandbox_mode = "danger-full-access"\n' + codex_config_toml(fake_responses))
    async with connect(env) as client:
        await _ask(client, "codex", "sandbox, wide config?")
    async with connect(env, _profile("codex")) as client:
        await _ask(client, "codex", "sandbox, wide config, read-only profile?")
    assert _codex_sandbox(fake_responses, "sandbox, plain config?") == "read-only"
    assert _codex_sandbox(fake_responses, "sandbox, wide config?") == "danger-full-access"
    assert _codex_sandbox(fake_responses, "sandbox, wide config, read-only profile?") == "read-only"


# --- every flag the README names exists -----------------------------------------------------------

HELP_ARGV = {
    "claude": ["claude", "--help"],
    "gemini": ["gemini", "--help"],
    "codex": ["codex", "exec", "--help"],
    "llm": ["llm", "prompt", "--help"],
}
# Flags whose value the README chooses: the value must be one the CLI lists too.
VALUED_FLAGS = {"--permission-mode", "--approval-mode", "--sandbox"}


def _readme_flags(executable: str) -> set[str]:
    """The flags (and chosen values) README.md names for `executable`: permission grants in the
    table and every flag of its config examples."""
    flags: set[str] = set()
    for name, entry in PERMISSIONS.items():
        if BUILTIN_MODELS[name].executable == executable:
            flags.update(
                word for grant in entry.grants for word in grant.split(" ") if "=" not in word
            )
    examples = {**readme_config(SAFETY).models, **readme_config(LOCAL).models}
    for spec in examples.values():
        if spec.executable != executable:
            continue
        argv = [*spec.command, *spec.stream_args, *spec.submodel_args]
        flags.update(word for word in argv if word.startswith("-") and word not in {"-", "--"})
        flags.update(argv[i + 1] for i, word in enumerate(argv[:-1]) if word in VALUED_FLAGS)
    return flags


@pytest.mark.parametrize("executable", sorted(HELP_ARGV))
def test_every_flag_the_readme_names_is_in_the_installed_clis_help(
    executable: str, base_env: dict[str, str]
) -> None:
    """Each flag (and chosen value) README.md names for a CLI appears in that CLI's --help."""
    done = subprocess.run(
        HELP_ARGV[executable],
        env=base_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    flags = _readme_flags(executable)
    assert flags, f"README names no flags for {executable}"
    missing = {
        f for f in flags if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", done.stdout)
    }
    assert not missing, f"{executable} --help does not list {sorted(missing)}"
