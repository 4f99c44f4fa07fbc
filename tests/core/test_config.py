"""Tests for llminst._core.config: built-in models, parsing and validating user configuration."""

from __future__ import annotations

import re
import sys
from typing import Any

import attrs
import pytest
import tomli_w
from hypothesis import given
from hypothesis import strategies as st

from llminst._core.builtins import BUILTIN_MODELS
from llminst._core.errors import ConfigError, InvalidInputError
from llminst._core.spec import ModelSpec, OutputFormat, PromptMode, Settings, split_model_name
from llminst._core.timeouts import TimeoutCategory
from llminst._core.userconfig import UserConfig, merge_models, parse_config, spec_from_mapping

SOURCE = "conf/llminst.toml"
SPEC_KEYS = sorted(a.name for a in attrs.fields(ModelSpec) if a.name != "name")
SETTINGS_KEYS = sorted(a.name for a in attrs.fields(Settings))


def _model(*lines: str, name: str = "x") -> str:
    """A config text with one new model `name` (command ["cli"]) plus `lines`."""
    return "\n".join([f"[models.{name}]", 'command = ["cli"]', *lines]) + "\n"


def _config_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source=SOURCE)
    return info.value


def _parse_or_error(text: str) -> UserConfig | ConfigError:
    """parse_config's result, or the ConfigError it raised (any other exception propagates)."""
    try:
        return parse_config(text, source=SOURCE)
    except ConfigError as exc:
        return exc


def _contains_run(seq: tuple[str, ...], run: tuple[str, ...]) -> bool:
    return any(seq[i : i + len(run)] == run for i in range(len(seq) - len(run) + 1))


# ---------------------------------------------------------------------------------------------
# built-in models


def test_builtin_model_names() -> None:
    """The built-ins are echo, claude, gemini, codex, gpt-4, llm and llama, each under its name."""
    assert set(BUILTIN_MODELS) == {"echo", "claude", "gemini", "codex", "gpt-4", "llm", "llama"}
    assert all(spec.name == name for name, spec in BUILTIN_MODELS.items())


def test_claude_runs_without_permission_prompts_and_speaks_stream_json_both_ways() -> None:
    """claude runs `--dangerously-skip-permissions` with stream-json output decoded as such and
    stream-json input (the prompt as a user message on stdin, as claude-agent-sdk runs it)."""
    spec = BUILTIN_MODELS["claude"]
    assert spec.command[0] == "claude"
    assert "-p" not in spec.command
    assert "--dangerously-skip-permissions" in spec.command
    assert _contains_run(spec.command, ("--output-format", "stream-json"))
    assert _contains_run(spec.command, ("--input-format", "stream-json"))
    assert "--verbose" in spec.command  # stream-json output requires it
    assert spec.output_format is OutputFormat.CLAUDE_STREAM_JSON
    assert spec.prompt_mode is PromptMode.STREAM_JSON
    assert spec.submodel_args == ("--model", "{submodel}")


def test_gpt4_runs_the_openai_chat_completions_cli() -> None:
    """gpt-4 runs `openai api chat.completions.create [-g system TEXT] -g user {prompt} -m gpt-4`
    (--stream to stream; the system message first); the model is a sub-model defaulting to
    gpt-4, so gpt-4:gpt-4o runs `-m gpt-4o`."""
    spec = BUILTIN_MODELS["gpt-4"]
    assert spec.command == (
        "openai",
        "api",
        "chat.completions.create",
        "{system_prompt_args}",
        "{history}",
        "-g",
        "user",
        "{prompt}",
    )
    assert spec.system_prompt_args == ("-g", "system", "{system_prompt}")
    assert spec.history_args == ("-g", "{role}", "{text}")
    assert spec.submodel_args == ("-m", "{submodel}")
    assert spec.default_submodel == "gpt-4"
    assert spec.stream_args == ("--stream",)


def test_llm_runs_simonws_llm_without_logging() -> None:
    """llm runs `llm prompt --no-log [-m MODEL] -- PROMPT`; without a sub-model, llm's default."""
    spec = BUILTIN_MODELS["llm"]
    assert spec.command == ("llm", "prompt", "--no-log")
    assert spec.submodel_args == ("-m", "{submodel}")
    assert spec.default_submodel is None
    assert spec.prompt_separator == "--" and spec.stdin_fallback


def test_llama_runs_ollama() -> None:
    """llama runs `ollama run llama2` (llama:NAME runs NAME) and can take the prompt on stdin."""
    spec = BUILTIN_MODELS["llama"]
    assert spec.command == ("ollama", "run")
    assert spec.submodel_args == ("{submodel}",)
    assert spec.default_submodel == "llama2"
    assert spec.stdin_fallback


def test_default_submodel_needs_submodel_args() -> None:
    """A default sub-model with nowhere to go is refused when the spec is built."""
    with pytest.raises(ConfigError, match="default_submodel 'x' needs submodel_args"):
        spec_from_mapping("m", {"command": ["m"], "default_submodel": "x"}, source=SOURCE)


def test_a_custom_model_may_take_claudes_stream_json_input() -> None:
    """prompt_mode = "stream-json" in a config gives a CLI the prompt as a stream-json user
    message (a wrapper around claude, a second claude account)."""
    spec = spec_from_mapping(
        "mine", {"command": ["my-claude"], "prompt_mode": "stream-json"}, source=SOURCE
    )
    assert spec.prompt_mode is PromptMode.STREAM_JSON


def test_gemini_reads_stdin_and_streams_json() -> None:
    """gemini runs `gemini --yolo --output-format stream-json` with the prompt on stdin."""
    spec = BUILTIN_MODELS["gemini"]
    assert spec.command == ("gemini", "--yolo", "--output-format", "stream-json")
    assert spec.prompt_mode is PromptMode.STDIN
    assert spec.submodel_args == ("-m", "{submodel}")
    assert spec.output_format is OutputFormat.GEMINI_STREAM_JSON
    assert spec.env == {"GEMINI_CLI_TRUST_WORKSPACE": "true", "GEMINI_CLI_NO_RELAUNCH": "true"}


def test_codex_runs_exec_json_with_the_prompt_on_stdin() -> None:
    """codex runs `codex exec --json --skip-git-repo-check - --ephemeral` (stdin) as
    codex-jsonl; a session's later call runs `codex exec resume THREAD_ID ...` instead (and no
    --ephemeral in a session, so its thread is saved)."""
    spec = BUILTIN_MODELS["codex"]
    assert spec.command == ("codex", "exec", "{resume}", "--json", "--skip-git-repo-check", "-")
    assert spec.resume_args == ("resume", "{session_id}")
    assert spec.sessionless_args == ("--ephemeral",)
    assert spec.prompt_mode is PromptMode.STDIN
    assert spec.submodel_args == ("-m", "{submodel}")
    assert spec.output_format is OutputFormat.CODEX_JSONL


def test_echo_runs_the_bundled_module_with_this_interpreter() -> None:
    """echo runs `sys.executable -m llminst.echo`, so it works without anything installed."""
    spec = BUILTIN_MODELS["echo"]
    assert spec.command == (sys.executable, "-m", "llminst.echo")
    assert spec.timeout_category is TimeoutCategory.QUICK


@pytest.mark.parametrize("name", sorted(BUILTIN_MODELS))
def test_builtin_patterns_compile(name: str) -> None:
    """Every rate-limit and auth pattern of every built-in is a valid case-insensitive regex."""
    spec = BUILTIN_MODELS[name]
    for pattern in (*spec.rate_limit_patterns, *spec.auth_patterns):
        re.compile(pattern, re.IGNORECASE)


@pytest.mark.parametrize("name", sorted(BUILTIN_MODELS))
def test_builtin_round_trips_through_an_empty_override(name: str) -> None:
    """Overriding a built-in with no keys gives back exactly the built-in spec."""
    spec = BUILTIN_MODELS[name]
    assert spec_from_mapping(name, {}, base=spec) == spec
    assert parse_config(f'[models."{name}"]\n', source=SOURCE).models[name] == spec


# ---------------------------------------------------------------------------------------------
# parse_config: what a valid file gives


def test_empty_file_gives_defaults() -> None:
    """An empty file gives default settings and no models."""
    assert parse_config("", source=SOURCE) == UserConfig(settings=Settings(), models={})


def test_settings_and_new_model() -> None:
    """[settings] and a complete new [models.NAME] table are parsed into typed values."""
    text = """
        [settings]
        default_max_concurrency = 2
        grace_period_s = 0.5

        [models.mine]
        command = ["mycli", "--quiet"]
        prompt_mode = "stdin"
        output_format = "claude-stream-json"
        timeout_category = "LONG"
        env = { MYCLI_COLOR = "0" }
        env_remove = ["OPENAI_API_KEY"]
        rate_limit_patterns = ["slow down"]
        max_attempts = 5
        max_concurrency = 1
        cwd = "/tmp"
    """
    config = parse_config(text, source=SOURCE)
    assert config.settings == Settings(default_max_concurrency=2, grace_period_s=0.5)
    assert set(config.models) == {"mine"}
    assert config.models["mine"] == ModelSpec(
        name="mine",
        command=("mycli", "--quiet"),
        prompt_mode=PromptMode.STDIN,
        output_format=OutputFormat.CLAUDE_STREAM_JSON,
        timeout_category=TimeoutCategory.LONG,
        env={"MYCLI_COLOR": "0"},
        env_remove=("OPENAI_API_KEY",),
        rate_limit_patterns=("slow down",),
        max_attempts=5,
        max_concurrency=1,
        cwd="/tmp",
    )


def test_overriding_a_builtin_changes_only_the_given_keys() -> None:
    """`[models.claude] max_attempts = 5` keeps every other claude key, command included."""
    config = parse_config("[models.claude]\nmax_attempts = 5\n", source=SOURCE)
    assert set(config.models) == {"claude"}
    assert config.models["claude"] == attrs.evolve(BUILTIN_MODELS["claude"], max_attempts=5)


def test_overriding_a_builtin_list_replaces_it() -> None:
    """A list key given for a built-in replaces the built-in's list rather than extending it."""
    config = parse_config('[models.echo]\nstream_args = []\nenv = { A = "1" }\n', source=SOURCE)
    spec = config.models["echo"]
    assert spec.stream_args == ()
    assert spec.env == {"A": "1"}
    assert spec.command == BUILTIN_MODELS["echo"].command


def test_builtins_argument_decides_what_can_be_overridden() -> None:
    """With no built-ins, `[models.claude]` is a new model and so needs a command."""
    with pytest.raises(ConfigError, match="command"):
        parse_config("[models.claude]\nmax_attempts = 5\n", source=SOURCE, builtins={})


def test_new_model_needs_command() -> None:
    """A new model without `command` is refused with an example of what to write."""
    exc = _config_error("[models.mine]\nmax_attempts = 2\n")
    assert exc.key == "models.mine"
    assert "required key 'command' is missing" in str(exc)
    assert '["mycli", "--flag"]' in str(exc)


def test_model_name_comes_from_the_table_name() -> None:
    """A `name` key inside a model table does not rename the model."""
    config = parse_config(_model('name = "other"', name="mine"), source=SOURCE)
    assert config.models["mine"].name == "mine"


def test_config_error_is_an_invalid_input_value_error() -> None:
    """ConfigError can be caught as InvalidInputError and as ValueError, and has kind "config"."""
    exc = _config_error("nonsense = 1")
    assert isinstance(exc, InvalidInputError)
    assert isinstance(exc, ValueError)
    assert exc.kind == "config"


def test_direct_spec_wraps_a_string_command() -> None:
    """ModelSpec(command="foo") (no cattrs in between) makes the one-element argv ("foo",)."""
    assert ModelSpec(name="x", command="foo").command == ("foo",)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("command", "foo"),
        ("stream_args", "--stream"),
        ("env_remove", "OPENAI_API_KEY"),
        # the worst case: every character is a pattern, so any stderr with a space is a rate limit
        ("rate_limit_patterns", "rate limit"),
    ],
)
def test_string_for_a_list_key_is_refused(key: str, value: str) -> None:
    """A string where a list is expected is a ConfigError (never split into chars, nor wrapped).

    Regression: cattrs structured tuple[str, ...] by iterating the string, so command = "foo"
    became ("f", "o", "o") and rate_limit_patterns = "rate limit" matched any space.
    """
    text = "[models.x]\n" + ("" if key == "command" else 'command = ["cli"]\n')
    text += f"{key} = {value!r}\n".replace("'", '"')
    exc = _config_error(text)
    assert exc.key == f"models.x.{key}"
    assert "expected a list of strings" in str(exc)
    assert "got a string" in str(exc)
    assert f'["{value}"]' in str(exc)  # the fix, written out


def test_string_command_at_runtime_is_refused() -> None:
    """spec_from_mapping refuses a string command like parse_config does, keyed by the field."""
    with pytest.raises(ConfigError) as info:
        spec_from_mapping("x", {"command": "foo"})
    assert info.value.key == "x.command"
    assert "expected a list of strings" in str(info.value)


# ---------------------------------------------------------------------------------------------
# parse_config: every mistake is a ConfigError naming source, key and expectation


@pytest.mark.parametrize(
    ("text", "full_key", "words"),
    [
        pytest.param(
            "[settings]\ngrace_period_s = = 1\n", None, ("not valid toml", "line 2"), id="toml"
        ),
        pytest.param(
            "[models\n", None, ("not valid toml", "table declaration"), id="toml-unclosed"
        ),
        pytest.param(
            "colour = 1\n", "colour", ("unknown top-level", "[models.NAME]"), id="top-level"
        ),
        pytest.param(
            _model("bogus = 1"),
            "models.x",
            ("'bogus'", "valid keys", ", ".join(SPEC_KEYS)),
            id="model-key",
        ),
        pytest.param("[settings]\nbogus = 1\n", "settings.bogus", ("unknown key",), id="set-key"),
        pytest.param(
            "[models.x]\nmax_attempts = 2\n", "models.x", ("command", "missing"), id="no-command"
        ),
        pytest.param(
            "[models.x]\ncommand = []\n", "models.x.command", ("command", "non-empty"), id="empty"
        ),
        pytest.param(
            '[models.x]\ncommand = [" "]\n', "models.x.command", ("non-empty",), id="blank-argv0"
        ),
        pytest.param(
            _model('max_attempts = "x"'),
            "models.x.max_attempts",
            ("integer",),
            id="max_attempts-str",
        ),
        pytest.param(
            _model("max_attempts = 0"),
            "models.x.max_attempts",
            ("max_attempts", "at least 1"),
            id="max_attempts-0",
        ),
        pytest.param(
            _model("max_concurrency = 0"),
            "models.x.max_concurrency",
            ("max_concurrency", "at least 1"),
            id="max_concurrency-0",
        ),
        pytest.param(
            _model('timeout_category = "forever"'),
            "models.x.timeout_category",
            ("'forever'", "quick, normal, long, extended"),
            id="timeout_category",
        ),
        pytest.param(
            _model('prompt_mode = "bad"'),
            "models.x.prompt_mode",
            ("'bad'", "argv", "stdin", "stream-json"),
            id="prompt_mode",
        ),
        pytest.param(
            _model('output_format = "xml"'),
            "models.x.output_format",
            ("'xml'", "text", "claude-stream-json"),
            id="output_format",
        ),
        pytest.param(
            _model("env = 3"),
            "models.x.env",
            ("table",),
            id="env",
        ),
        pytest.param(
            _model('rate_limit_patterns = ["("]'),
            "models.x.rate_limit_patterns",
            ("rate_limit_patterns", "'('", "regular expression", "backslash"),
            id="pattern",
        ),
        pytest.param(
            _model("stream_args = 5"),
            "models.x.stream_args",
            ("list",),
            id="stream_args",
        ),
        pytest.param(
            "[models.x]\ncommand = 5\n",
            "models.x.command",
            ("list",),
            id="command-int",
        ),
        pytest.param("models = 3\n", "models", ("table",), id="models-not-table"),
        pytest.param("[models]\nx = 3\n", "models.x", ("table", "int"), id="model-not-table"),
        pytest.param("settings = 3\n", "settings", ("table",), id="settings-not-table"),
        pytest.param(
            "[settings]\ndefault_max_concurrency = 0\n",
            "settings.default_max_concurrency",
            ("default_max_concurrency", "at least 1"),
            id="settings-0",
        ),
        pytest.param(
            '[settings]\ngrace_period_s = "x"\n',
            "settings.grace_period_s",
            ("number",),
            id="grace-str",
        ),
    ],
)
def test_mistake_names_source_key_and_expectation(
    text: str, full_key: str | None, words: tuple[str, ...]
) -> None:
    """Each mistake is a ConfigError whose message names the file, the key and what is expected."""
    exc = _config_error(text)
    message = str(exc)
    assert exc.source == SOURCE
    assert message.startswith(f"{SOURCE}: ")
    if full_key is None:
        assert exc.key is None
    else:
        # The key is the mistake's dotted path or a table above it that the message then names.
        assert exc.key is not None
        assert full_key == exc.key or full_key.startswith(exc.key + ".")
        assert exc.key in message
        assert full_key.rpartition(".")[2] in message
    for word in words:
        assert word.lower() in message.lower(), (word, message)


@pytest.mark.parametrize(
    ("text", "full_key"),
    [
        (_model("max_attempts = 0"), "models.x.max_attempts"),
        ("[models.x]\ncommand = []\n", "models.x.command"),
        (_model('rate_limit_patterns = ["("]'), "models.x.rate_limit_patterns"),
        ("[settings]\ndefault_max_concurrency = 0\n", "settings.default_max_concurrency"),
    ],
    ids=["max_attempts", "command", "rate_limit_patterns", "default_max_concurrency"],
)
def test_value_errors_carry_the_full_key_path(text: str, full_key: str) -> None:
    """A value a validator refuses is reported with the key path of that value, like type errors.

    Regression: validator errors were keyed by the table ("models.x"), type errors by the field.
    """
    assert _config_error(text).key == full_key


def test_unknown_settings_key_lists_the_valid_keys() -> None:
    """An unknown [settings] key is reported with the list of valid settings keys.

    Regression: cattrs wrapped ForbiddenExtraKeysError in ClassValidationError, so the handler
    that listed the valid keys never ran.
    """
    message = str(_config_error("[settings]\nbogus = 1\n"))
    assert "'bogus'" in message
    assert all(key in message for key in SETTINGS_KEYS)


def test_server_table_takes_an_allowlist_of_executables() -> None:
    """[server] allow_commands lists executables; a string, an empty name or a typo is refused."""
    config = parse_config('[server]\nallow_commands = ["claude", "/opt/x"]\n', source="t")
    assert config.server.allow_commands == ("claude", "/opt/x")
    assert parse_config("", source="t").server.allow_commands == ()
    assert _config_error('[server]\nallow_commands = "claude"\n').key == "server.allow_commands"
    assert _config_error('[server]\nallow_commands = [""]\n').key == "server.allow_commands"
    assert "allow_commands" in str(_config_error("[server]\nallow_command = []\n"))


def test_server_table_takes_the_allowed_roots_of_a_calls_directory() -> None:
    """[server] allowed_roots lists directories; a string, an empty path or a typo is refused."""
    config = parse_config('[server]\nallowed_roots = ["/srv/work", "~/p"]\n', source="t")
    assert config.server.allowed_roots == ("/srv/work", "~/p")
    assert parse_config("", source="t").server.allowed_roots == ()
    assert _config_error('[server]\nallowed_roots = "/srv"\n').key == "server.allowed_roots"
    empty = _config_error('[server]\nallowed_roots = [" "]\n')
    assert empty.key == "server.allowed_roots" and "an empty path" in str(empty)
    assert "allowed_roots" in str(_config_error("[server]\nallowed_root = []\n"))


def test_a_model_takes_system_prompt_args_with_their_placeholder() -> None:
    spec = parse_config(
        _model('system_prompt_args = ["--system", "{system_prompt}"]'), source="t"
    ).models["x"]
    assert spec.system_prompt_args == ("--system", "{system_prompt}")
    refused = _config_error(_model('system_prompt_args = ["--system"]'))
    assert refused.key == "models.x.system_prompt_args"
    assert "{system_prompt}" in str(refused)


def test_store_table_sets_path_prompts_and_retention() -> None:
    """[store] path (absolute, ~ or "memory"), keep_prompts and retention_days; defaults when
    absent; a relative path, a wrong type, a zero retention or a typo is refused by key."""
    config = parse_config(
        '[store]\npath = "~/calls.sqlite3"\nkeep_prompts = false\nretention_days = 7\n',
        source="t",
    )
    assert (config.store.path, config.store.keep_prompts, config.store.retention_days) == (
        "~/calls.sqlite3",
        False,
        7,
    )
    default = parse_config("", source="t").store
    assert (default.path, default.keep_prompts, default.retention_days) == (None, True, 30)
    assert parse_config('[store]\npath = "memory"\n', source="t").store.path == "memory"
    relative = _config_error('[store]\npath = "calls.sqlite3"\n')
    assert relative.key == "store.path" and "absolute path" in str(relative)
    assert _config_error("[store]\nkeep_prompts = 0\n").key == "store.keep_prompts"
    assert _config_error("[store]\nretention_days = 0\n").key == "store.retention_days"
    assert _config_error("[store]\nretention_days = 1.5\n").key == "store.retention_days"
    assert "retention_days" in str(_config_error("[store]\nretention = 3\n"))


def test_several_mistakes_report_at_least_one_with_a_count() -> None:
    """Several type mistakes in one table name the first and say how many more there are."""
    exc = _config_error(_model('prompt_mode = "bad"', 'output_format = "xml"'))
    assert exc.key in {"models.x.output_format", "models.x.prompt_mode"}
    assert "(and 1 more problem(s))" in str(exc)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('stdin_fallback = "false"', "stdin_fallback"),
        ("max_attempts = 2.5", "max_attempts"),
        ("max_attempts = true", "max_attempts"),
        ("stream_args = { a = 1 }", "stream_args"),
        ("env = { A = { B = 1 } }", "env"),
    ],
)
def test_wrong_type_is_refused_not_coerced(line: str, key: str) -> None:
    """A value of the wrong TOML type is a ConfigError rather than silently converted.

    Regression: cattrs' default hooks made "false" True, 2.5 2, true 1, a table's keys argv.
    """
    exc = _config_error(_model(line))
    assert exc.key == f"models.x.{key}"


def test_model_name_with_colon_is_refused() -> None:
    """A model name containing ':' (the sub-model separator) is refused, since no call reaches it.

    Regression: [models."a:b"] was accepted, but "a:b" is always split into model a, sub-model b.
    """
    exc = _config_error(_model(name='"a:b"'))
    assert exc.key is not None and "a:b" in exc.key


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("a:b", ('":" separates a sub-model', "pick a name without it")),
        ("", ("non-empty",)),
        ("my model", ("whitespace",)),
        ("tab\there", ("whitespace",)),
        ("bell\x07", ("control characters",)),
    ],
    ids=["colon", "empty", "space", "tab", "control"],
)
def test_bad_model_name_is_refused_with_the_reason(name: str, words: tuple[str, ...]) -> None:
    """ModelSpec itself refuses a name no call can reach, so runtime definitions are covered too."""
    with pytest.raises(ValueError, match="model name") as direct:
        ModelSpec(name=name, command=("cli",))
    with pytest.raises(ConfigError) as runtime:
        spec_from_mapping(name, {"command": ["cli"]}, key_prefix=f"models.{name}")
    assert runtime.value.key == f"models.{name}"
    for word in words:
        assert word in str(direct.value)
        assert word in str(runtime.value)


def test_model_names_callers_use_are_accepted() -> None:
    """Dots, dashes, underscores and non-ASCII letters are fine in a model name."""
    for name in ("gpt-4", "my_model.v2", "modèle"):
        assert ModelSpec(name=name, command=("cli",)).name == name


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_direct_settings_refuse_a_bad_grace_period(value: float) -> None:
    """Settings(grace_period_s=...) built in Python is checked like the config file."""
    with pytest.raises(ValueError, match="grace_period_s"):
        Settings(grace_period_s=value)


def test_grace_period_accepts_an_integer() -> None:
    """A number of seconds may be written as an integer; 0 means SIGKILL right away."""
    assert parse_config("[settings]\ngrace_period_s = 0\n", source=SOURCE).settings == Settings(
        grace_period_s=0.0
    )


def test_early_stop_settings_and_patterns_come_from_the_config_file() -> None:
    """stop_after_repeated_errors (0 turns it off) and a model's unreachable patterns and hint
    are read from the file; a negative count and a broken regex are refused by key."""
    config = parse_config(
        "[settings]\nstop_after_repeated_errors = 0\n"
        + _model('unreachable_patterns = ["proxy said no"]\nunreachable_hint = "ask IT"'),
        source=SOURCE,
    )
    assert config.settings.stop_after_repeated_errors == 0
    assert config.models["x"].unreachable_patterns == ("proxy said no",)
    assert config.models["x"].unreachable_hint == "ask IT"
    assert ModelSpec(name="y", command=("cli",)).unreachable_patterns  # the shared list
    with pytest.raises(ConfigError, match=r"settings\.stop_after_repeated_errors: .*at least 0"):
        parse_config("[settings]\nstop_after_repeated_errors = -1\n", source=SOURCE)
    with pytest.raises(ConfigError, match=r"x\.unreachable_patterns: .*regular expression"):
        parse_config(_model('unreachable_patterns = ["(unclosed"]'), source=SOURCE)


def test_empty_prompt_separator_means_none() -> None:
    """prompt_separator = "" is normalized to None, in Python and in a config file."""
    assert ModelSpec(name="x", command=("cli",), prompt_separator="").prompt_separator is None
    config = parse_config(_model('prompt_separator = ""'), source=SOURCE)
    assert config.models["x"].prompt_separator is None


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("max_attempts = 2.5", ("expected an integer, got 2.5",)),
        ("max_attempts = true", ("expected an integer, got true",)),
        ('stdin_fallback = "false"', ("expected true or false", "'false'")),
        ("stream_args = [1]", ("expected a list of strings", "element 0 is 1")),
        ("env = { A = 1 }", ("expected a table of strings", "'A' is 1")),
        ("auth_hint = 3", ("expected a string, got 3",)),
        ('prompt_mode = "STDIN"', ("expected one of: argv, stdin", "'STDIN'")),
        ("timeout_category = 1", ("quick, normal, long, extended",)),
    ],
)
def test_wrong_type_message_says_what_to_write(line: str, words: tuple[str, ...]) -> None:
    """A wrong-type message names the expected type (or valid values) and the value given."""
    message = str(_config_error(_model(line)))
    for word in words:
        assert word in message, (word, message)


def test_spec_from_mapping_accepts_python_sequences() -> None:
    """Runtime data may use tuples where TOML has lists, and enum members for their values."""
    spec = spec_from_mapping(
        "mine", {"command": ("mycli", "-q"), "prompt_mode": PromptMode.STDIN, "cwd": None}
    )
    assert spec.command == ("mycli", "-q")
    assert spec.prompt_mode is PromptMode.STDIN


@pytest.mark.parametrize("value", ["-1", "nan"])
def test_grace_period_must_be_a_finite_non_negative_number(value: str) -> None:
    """grace_period_s must be a finite number of seconds, at least 0 (regression: no check)."""
    exc = _config_error(f"[settings]\ngrace_period_s = {value}\n")
    assert exc.key == "settings.grace_period_s"


# ---------------------------------------------------------------------------------------------
# spec_from_mapping (runtime definitions)


def test_spec_from_mapping_builds_a_new_spec() -> None:
    """Plain runtime data (strings for enums, lists for tuples) becomes a typed spec."""
    spec = spec_from_mapping(
        "mine",
        {"command": ["mycli"], "prompt_mode": "stdin", "timeout_category": "quick"},
    )
    assert spec == ModelSpec(
        name="mine",
        command=("mycli",),
        prompt_mode=PromptMode.STDIN,
        timeout_category=TimeoutCategory.QUICK,
    )


def test_spec_from_mapping_overrides_a_base() -> None:
    """With a base, only the given keys change."""
    base = BUILTIN_MODELS["gemini"]
    spec = spec_from_mapping("gemini", {"max_attempts": 7, "env": {"X": "1"}}, base=base)
    assert spec == attrs.evolve(base, max_attempts=7, env={"X": "1"})


def test_spec_from_mapping_can_rename_a_base() -> None:
    """A base spec under a new name keeps its settings and takes the new name."""
    spec = spec_from_mapping("claude-slow", {"max_attempts": 9}, base=BUILTIN_MODELS["claude"])
    assert spec.name == "claude-slow"
    assert spec.command == BUILTIN_MODELS["claude"].command


@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        ({"max_attempts": 2}, "mine", ("command", "missing")),
        ({"command": ["a"], "colour": 1}, "mine", ("'colour'", "valid keys")),
        ({"command": ["a"], "max_attempts": 0}, "mine.max_attempts", ("at least 1",)),
        ({"command": ["a"], "timeout_category": "x"}, "mine.timeout_category", ("quick",)),
        (["command", "a"], "mine", ("table", "list")),
    ],
)
def test_spec_from_mapping_errors_name_runtime_source(
    data: Any, key: str, words: tuple[str, ...]
) -> None:
    """Runtime mistakes are ConfigErrors from "<runtime>" keyed by the model name (and field)."""
    with pytest.raises(ConfigError) as info:
        spec_from_mapping("mine", data)
    exc = info.value
    assert exc.source == "<runtime>"
    assert exc.key == key
    assert str(exc).startswith(f"<runtime>: {key}: ")
    for word in words:
        assert word in str(exc)


def test_spec_from_mapping_uses_given_source_and_prefix() -> None:
    """`source` and `key_prefix` are used in the error (as parse_config does)."""
    with pytest.raises(ConfigError) as info:
        spec_from_mapping("m", {}, source="tool call", key_prefix="configure_llm.m")
    assert info.value.source == "tool call"
    assert info.value.key == "configure_llm.m"


# ---------------------------------------------------------------------------------------------
# merge_models and split_model_name


def test_merge_models_later_layers_win() -> None:
    """merge_models keeps every name; a later layer replaces an earlier spec of the same name."""
    mine = ModelSpec(name="echo", command=("other",))
    extra = ModelSpec(name="extra", command=("x",))
    merged = merge_models(BUILTIN_MODELS, {"echo": mine}, {"extra": extra})
    assert merged["echo"] is mine
    assert merged["extra"] is extra
    assert merged["claude"] is BUILTIN_MODELS["claude"]
    assert "extra" not in BUILTIN_MODELS  # not mutated
    assert BUILTIN_MODELS["echo"] is not mine


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("claude:sonnet", ("claude", "sonnet")),
        ("echo", ("echo", None)),
        ("claude:", ("claude", None)),
        ("gemini:gemini-2.5-pro", ("gemini", "gemini-2.5-pro")),
        ("ollama:llama3:8b", ("ollama", "llama3:8b")),
        ("gpt-4", ("gpt-4", None)),
    ],
)
def test_split_model_name(model: str, expected: tuple[str, str | None]) -> None:
    """The first ':' splits model from sub-model; an empty sub-model is None."""
    assert split_model_name(model) == expected


# ---------------------------------------------------------------------------------------------
# property: no input escapes as anything but ConfigError

_scalars = st.one_of(
    st.text(max_size=20),
    st.integers(),
    st.booleans(),
    st.floats(),
    st.lists(st.text(max_size=10), max_size=4),
)
_values = st.one_of(_scalars, st.dictionaries(st.text(max_size=8), _scalars, max_size=3))
_random_tables = st.dictionaries(
    st.one_of(st.sampled_from(SPEC_KEYS), st.just("name"), st.text(max_size=10)),
    _values,
    max_size=4,
)
# Half the tables get a usable command, so the later keys are what decides.
_model_tables = st.one_of(
    _random_tables,
    st.builds(
        lambda command, rest: {"command": command, **rest},
        st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=3),
        _random_tables,
    ),
)
_settings_tables = st.dictionaries(
    st.one_of(st.sampled_from(SETTINGS_KEYS), st.text(max_size=10)),
    st.one_of(st.integers(min_value=-2, max_value=10**9), _scalars),
    max_size=4,
)
_documents = st.builds(
    lambda models, settings, extra: {**models, **settings, **extra},
    st.fixed_dictionaries(
        {},
        optional={
            "models": st.one_of(
                st.dictionaries(
                    st.one_of(st.sampled_from(sorted(BUILTIN_MODELS)), st.text(max_size=10)),
                    st.one_of(_model_tables, _scalars),
                    max_size=3,
                ),
                _scalars,
            )
        },
    ),
    # Mostly no [settings] and no stray top-level key, else their errors would hide the models'.
    st.one_of(
        st.just({}),
        st.fixed_dictionaries({"settings": st.one_of(_settings_tables, _scalars)}),
    ),
    st.one_of(st.just({}), st.just({}), st.just({}), st.dictionaries(st.text(), _values)),
)


@given(_documents)
def test_any_toml_document_parses_or_raises_config_error(document: dict[str, Any]) -> None:
    """Any TOML document either parses into one spec per model table or raises ConfigError."""
    text = tomli_w.dumps(document)
    outcome = _parse_or_error(text)
    if isinstance(outcome, ConfigError):
        assert str(outcome).startswith(f"{SOURCE}: ")
    else:
        config = outcome
        assert set(config.models) == set(document.get("models") or {})
        assert all(spec.name == name for name, spec in config.models.items())
