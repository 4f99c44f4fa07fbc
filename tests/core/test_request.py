"""`_core.request.build_request` (one call's parameters, resolved once) and `_core.command`'s
`environment` / `invocation_for` (request -> what to start), without a process."""

from __future__ import annotations

import pytest

from llminst._core.builtins import BUILTIN_MODELS
from llminst._core.command import environment, invocation_for
from llminst._core.errors import InvalidInputError, InvalidJSONSchemaError, UnknownModelError
from llminst._core.jsonmode import apply_json_mode
from llminst._core.request import build_request, resolve_model
from llminst._core.schemas import DEFAULT_SCHEMA
from llminst._core.spec import ModelSpec
from llminst._core.timeouts import TimeoutCategory

CLI = ModelSpec(
    name="cli",
    command=("cli", "-p"),
    submodel_args=("--model", "{submodel}"),
    stream_args=("--stream",),
    json_args=("--json",),
    json_schema_args=("--schema", "{schema}"),
    timeout_category=TimeoutCategory.QUICK,
)
MODELS = {"cli": CLI, "other": ModelSpec(name="other", command=("other",))}


def test_a_model_resolves_to_its_spec_and_sub_model() -> None:
    """``cli:big`` is the cli spec with sub-model ``big``; an unknown name lists the known."""
    assert resolve_model(MODELS, "cli") == (CLI, None)
    assert resolve_model(MODELS, "cli:big") == (CLI, "big")
    assert resolve_model(MODELS, "cli:") == (CLI, None)
    with pytest.raises(
        UnknownModelError, match=r"unknown model 'nope:x'; known models: cli, other"
    ):
        resolve_model(MODELS, "nope:x")


def test_a_plain_request_is_resolved_once() -> None:
    """Model, timeout category from the spec, no schema, the prompt untouched."""
    request = build_request(MODELS, model="cli:big", prompt="hello")
    assert (request.model, request.spec, request.submodel) == ("cli:big", CLI, "big")
    assert (request.timeout.category, request.timeout.seconds) == ("quick", 60.0)
    assert request.schema is None and not request.json_mode
    assert request.instructed_prompt == "hello" == request.cli_prompt(native_schema=False)
    assert request.cli_streaming is False


def test_json_mode_parses_the_schema_and_writes_the_instructions_once() -> None:
    """The instructed prompt is made when the request is; the native flag case skips it."""
    request = build_request(MODELS, model="cli", prompt="count", json_mode=True)
    assert request.schema == DEFAULT_SCHEMA
    assert request.instructed_prompt == apply_json_mode("count", DEFAULT_SCHEMA)
    assert request.cli_prompt(native_schema=False) == request.instructed_prompt
    assert request.cli_prompt(native_schema=True) == "count"


def test_a_schema_implies_json_mode() -> None:
    request = build_request(MODELS, model="cli", prompt="q", json_schema='{"type": "array"}')
    assert request.json_mode and request.schema == {"type": "array"}


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"prompt": b"bytes"}, InvalidInputError),
        ({"model": "ghost"}, UnknownModelError),
        ({"json_schema": "{not json"}, InvalidJSONSchemaError),
        ({"timeout": -1}, InvalidInputError),
        ({"timeout": True}, InvalidInputError),
    ],
)
def test_invalid_requests_are_refused_before_anything_starts(
    options: dict[str, object], error: type[Exception]
) -> None:
    """Each refusal is the kind of error that names the cause."""
    arguments: dict[str, object] = {"model": "cli", "prompt": "q", **options}
    with pytest.raises(error):
        build_request(MODELS, **arguments)


def test_build_request_takes_no_positional_flags() -> None:
    """Regression: `_run(..., timeout, False, None, forward=True)`; every option is a keyword."""
    with pytest.raises(TypeError):
        build_request(MODELS, "cli", "q")


# --------------------------------------------------------------------------------------------
# request -> invocation


def test_the_invocation_has_the_requests_flags_and_prompt() -> None:
    """Sub-model, streaming and JSON flags, and the instructed prompt, in the spec's order."""
    request = build_request(MODELS, model="cli:big", prompt="q", json_mode=True, cli_streaming=True)
    invocation = invocation_for(request, native_schema=False, base_env={})
    assert invocation.argv == (
        "cli", "-p", "--model", "big", "--stream", "--json", request.instructed_prompt
    )  # fmt: skip


def test_a_native_schema_goes_to_the_flag_and_not_into_the_prompt() -> None:
    request = build_request(MODELS, model="cli", prompt="q", json_schema='{"type": "object"}')
    invocation = invocation_for(request, native_schema=True, base_env={})
    assert invocation.argv == ("cli", "-p", "--json", "--schema", '{"type":"object"}', "q")


def test_a_plain_request_ignores_the_native_schema_flag() -> None:
    request = build_request(MODELS, model="cli", prompt="q")
    assert invocation_for(request, native_schema=True, base_env={}).argv == ("cli", "-p", "q")


def test_environment_is_the_base_minus_removed_plus_the_specs_and_the_extra() -> None:
    """A new dict each time: changing it changes neither the base nor the spec."""
    spec = ModelSpec(name="e", command=("e",), env={"A": "spec"}, env_remove=("DROP",))
    base = {"PATH": "/bin", "DROP": "secret", "A": "base"}
    env = environment(spec, base, {"MARK": "1"})
    assert env == {"PATH": "/bin", "A": "spec", "MARK": "1"}
    env["PATH"] = "changed"
    assert base["PATH"] == "/bin" and environment(spec, base)["PATH"] == "/bin"


def test_an_environment_nothing_changes_is_passed_on_without_a_copy() -> None:
    """Regression: the environment was copied twice per call; unchanged, it is not copied."""
    base = {"PATH": "/bin"}
    request = build_request(BUILTIN_MODELS, model="echo", prompt="q")
    assert invocation_for(request, native_schema=False, base_env=base).env is base
    marked = invocation_for(request, native_schema=False, base_env=base, extra_env={"M": "1"})
    assert marked.env == {"PATH": "/bin", "M": "1"} and base == {"PATH": "/bin"}
    removing = ModelSpec(name="r", command=("r",), env_remove=("PATH",))
    removed = build_request({"r": removing}, model="r", prompt="q")
    assert invocation_for(removed, native_schema=False, base_env=base).env == {}
