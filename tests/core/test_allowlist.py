"""configure_llm's allowlist policy, with executables located from a table: no PATH, no files.

The same rules through the MCP client and a real PATH with a symlink are in test_mcp_tools.py
(test_configure_llm_keeps_to_the_allowlist).
"""

from __future__ import annotations

import pytest

from llminst._core.allowlist import Located, check_allowed, code_loading_names
from llminst._core.errors import InvalidInputError
from llminst._core.spec import ModelSpec

# What a PATH lookup would give: `true` and a symlink to it are the same file.
FILES = {
    "true": Located("/usr/bin/true", "/usr/bin/true"),
    "/usr/bin/true": Located("/usr/bin/true", "/usr/bin/true"),
    "/home/me/my-true": Located("/home/me/my-true", "/usr/bin/true"),
    "sh": Located("/bin/sh", "/usr/bin/dash"),
    "dash": Located("/usr/bin/dash", "/usr/bin/dash"),
}


def check(
    command: tuple[str, ...],
    *,
    allowed: tuple[str, ...] = ("true",),
    env: dict[str, str] | None = None,
    version_command: tuple[str, ...] | None = None,
) -> None:
    spec = ModelSpec(name="x", command=command, version_command=version_command)
    check_allowed(spec, env=env or {}, allowed=allowed, locate=FILES.get)


@pytest.mark.parametrize(
    "command",
    [("true",), ("true", "--anything"), ("/usr/bin/true",), ("/home/me/my-true",)],
    ids=["by-name", "with-args", "by-path", "by-symlink"],
)
def test_an_allowed_executable_passes_by_name_path_or_symlink(command: tuple[str, ...]) -> None:
    """Executables are compared as the files they really are."""
    check(command)


def test_another_executable_is_refused_with_the_operators_fix() -> None:
    """The message names the key, the executable, where it resolves, the allowlist and how the
    operator extends it."""
    with pytest.raises(InvalidInputError) as caught:
        check(("sh", "-c", "echo pwned"))
    assert caught.value.message == (
        "configure_llm: command 'sh' (resolves to /bin/sh) is not on this server's allowlist of "
        "executables (true); the server's operator can add it with --allow-command or [server] "
        "allow_commands in the config file"
    )


def test_the_same_file_under_another_name_is_allowed() -> None:
    """An allowlisted name that resolves to the same file as the command permits it."""
    check(("sh",), allowed=("dash",))


def test_an_executable_not_found_is_refused() -> None:
    """A command that is not on PATH cannot be checked, so it is refused, saying so."""
    with pytest.raises(InvalidInputError, match=r"'no-such-cli' \(not found on PATH\)"):
        check(("no-such-cli",))


def test_an_allowlisted_name_that_is_not_installed_permits_nothing() -> None:
    """An allowlist entry that is not found on PATH allows no file at all."""
    with pytest.raises(InvalidInputError, match=r"allowlist of executables \(ghost\)"):
        check(("true",), allowed=("ghost",))


def test_an_empty_allowlist_refuses_every_command() -> None:
    with pytest.raises(InvalidInputError, match=r"allowlist of executables \(empty\)"):
        check(("true",), allowed=())


def test_the_version_command_keeps_to_the_allowlist_too() -> None:
    """status runs the version command, so it is checked like the command."""
    check(("true",), version_command=("{executable}", "--version"))
    with pytest.raises(InvalidInputError, match=r"^configure_llm: version_command 'sh' "):
        check(("true",), version_command=("sh", "-c", "id"))


def test_code_loading_variables_are_refused_and_named() -> None:
    """Only the variables that load code are named; the harmless ones are left out."""
    with pytest.raises(InvalidInputError) as caught:
        check(("true",), env={"LD_PRELOAD": "/tmp/x.so", "OK_VAR": "1", "PYTHONPATH": "/tmp"})
    assert "env may not set LD_PRELOAD, PYTHONPATH (they make a program load" in str(caught.value)
    assert "OK_VAR" not in str(caught.value)
    check(("true",), env={"OK_VAR": "1"})


@pytest.mark.parametrize(
    ("name", "loads_code"),
    [
        ("PATH", True),
        ("LD_PRELOAD", True),
        ("LD_LIBRARY_PATH", True),
        ("DYLD_INSERT_LIBRARIES", True),
        ("PYTHONPATH", True),
        ("PYTHONSTARTUP", True),
        ("NODE_OPTIONS", True),
        ("NODE_PATH", True),
        ("BASH_ENV", True),
        ("ENV", True),
        ("PERL5LIB", True),
        ("RUBYOPT", True),
        ("GCONV_PATH", True),
        ("IFS", True),
        ("SHELLOPTS", True),
        ("GIT_SSH_COMMAND", True),
        ("NPM_CONFIG_PREFIX", True),
        ("npm_config_prefix", True),
        ("ANTHROPIC_API_KEY", False),
        ("IS_SANDBOX", False),
        ("MY_PATH", False),
        ("path", False),
    ],
)
def test_which_variables_load_code(name: str, loads_code: bool) -> None:
    """The names are matched whole and case-sensitively (npm reads both spellings)."""
    assert code_loading_names([name]) == ([name] if loads_code else [])
