"""The MCP adapter: the five tools, progress streaming, and errors the client can read.

With `tool_arguments` (the tools' argument checks), `wire` (decoding what arrives) and
`transports`, it is the only place that knows MCP. Each tool is a thin function over the
supervisor (which the server's lifespan opens once for the server's whole life): its arguments
are checked, it runs the call, forwards text as progress notifications, and turns the outcome
into a tool result. Every
failure becomes an ``isError`` result whose text starts with the error's kind, never the SDK's
opaque "Error executing tool". Cancellation (a client's ``notifications/cancelled`` or a
disconnect) arrives as trio.Cancelled inside the tool and is left to propagate: the supervisor
kills the call's process tree on the way out.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import shlex
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

import attrs
import trio
from attrs import Factory, define, frozen
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, create_model
from starlette.applications import Starlette

from .. import __version__
from .._core.config import ModelSpec, Settings, spec_from_mapping
from .._core.events import RetryNotice, TextDelta
from .._core.retry import BackoffPolicy
from .._core.status import ModelStatus
from .._core.tokens import estimate_tokens as _estimate_tokens
from ..errors import CallTimeoutError, ConfigError, InvalidInputError, LLMError
from ..logs import get_logger
from ..result import CallResult
from ..supervisor import CallStream, RetryScheduled, Supervisor, open_supervisor
from ..wire import AnswerMalformedMessages
from .arguments import ArgumentsModel, ToolBody, check_arguments, strict_tool

__all__ = ["ServerOptions", "create_server"]

_log = get_logger()


@frozen(kw_only=True)
class ServerOptions:
    """How the MCP server behaves.

    Attributes:
        models: the models it serves.
        settings: supervisor settings (concurrency, grace period, output cap).
        backoff: the rate-limit backoff policy.
        base_env: the environment CLIs start from (None: the server's own).
        allow_configure: whether `configure_llm` may change models (off for remote clients
            unless explicitly enabled).
        allowed_commands: when set, `configure_llm` may only point a model (and its version
            command) at these executables (names found on PATH, or absolute paths), compared
            after resolving symlinks, and may not set environment variables that make an
            executable load other code (PATH, LD_*, PYTHON*, NODE_OPTIONS, ...). None: any.
        coalesce_s / coalesce_bytes: streamed text is sent at most every `coalesce_s` seconds,
            or sooner once `coalesce_bytes` are pending, so a fast CLI cannot flood the client.
        keepalive_s: a progress notification is sent at least this often while a CLI is silent.
    """

    models: Mapping[str, ModelSpec]
    settings: Settings = Factory(Settings)
    backoff: BackoffPolicy = Factory(BackoffPolicy)
    base_env: Mapping[str, str] | None = None
    allow_configure: bool = True
    allowed_commands: tuple[str, ...] | None = None
    coalesce_s: float = 0.05
    coalesce_bytes: int = 4096
    keepalive_s: float = 10.0


# --------------------------------------------------------------------------------------------
# Result shapes (the tools' output schemas)


def _output_model(cls: type[Any], doc: str) -> type[BaseModel]:
    """The pydantic twin of an attrs class, for the tool's output schema (one field list)."""
    attrs.resolve_types(cls)
    fields: dict[str, Any] = {
        a.name: (a.type, ... if a.default is attrs.NOTHING else a.default)
        for a in attrs.fields(cls)
    }
    return create_model(f"{cls.__name__}Out", __doc__=doc, **fields)


ExecuteResult = _output_model(CallResult, "The complete result of one call.")
ModelStatusOut = _output_model(ModelStatus, "One model's readiness.")


class StatusResult(BaseModel):
    """Every model's readiness."""

    server_version: str
    models: list[ModelStatusOut]  # type: ignore[valid-type]  # built by _output_model
    available: list[str]
    unavailable: list[str]


class TokenEstimateOut(BaseModel):
    model: str
    tokens: int
    characters: int
    family: str
    method: str


class ConfigureResult(BaseModel):
    model: str
    created: bool
    command: list[str]
    timeout_category: str
    rate_limit_patterns: list[str]
    available: bool
    executable_path: str | None
    warnings: list[str]


# Tool parameters shared by several tools (their descriptions are part of the input schemas).
Prompt = Annotated[str, Field(description="The prompt, passed to the CLI byte for byte.")]
Timeout = Annotated[
    float | None,
    Field(description="Seconds for the whole call; omit to pick a category from the prompt."),
]


def _opt(description: str) -> Any:
    return Field(default=None, description=description)


# --------------------------------------------------------------------------------------------
# Errors


def _error_result(exc: LLMError, *, model: str | None) -> CallToolResult:
    """An isError result whose text names the kind.

    Clients validate structured content against the tool's output schema even on errors (the
    TypeScript SDK does), so it is attached only for the call tools, as an `ExecuteResult`: the
    partial result of the call, or an empty one when no process ran.
    """
    text = f"{exc.kind}: {exc.message}"
    partial = exc.result
    if isinstance(exc, CallTimeoutError) and partial is not None and partial.output:
        text += f"\n--- partial output ---\n{partial.output}"
    raw = getattr(exc, "raw_output", None)
    if raw:
        text += f"; the raw output follows and is the result's output\n--- raw output ---\n{raw}"
    structured = None
    if model is not None:
        if partial is None:
            partial = CallResult(
                model=model,
                output="",
                success=False,
                exit_code=None,
                attempts=0,
                duration_s=0.0,
                timeout_s=0.0,
                timeout_category="",
                error=exc.message,
                error_kind=exc.kind,
            )
        structured = _execute_result(partial).model_dump(mode="json")
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=structured,
        is_error=True,
    )


# The tools whose output schema is ExecuteResult: their errors carry the partial result.
_CALL_TOOLS = {"execute_llm", "stream_llm"}


def _checked(tool: ToolBody, strict: ArgumentsModel) -> ToolBody:
    """The function the SDK calls for `tool`: check the client's arguments against `strict`,
    run the tool, and turn every failure into a readable isError result; let cancellation
    through."""
    name = tool.__name__
    model_parameter = inspect.signature(tool).parameters.get("model")
    default_model = model_parameter.default if model_parameter else None

    async def checked(*, ctx: Context, arguments: dict[str, Any]) -> CallToolResult:
        model = None
        if name in _CALL_TOOLS:
            # The model named in the structured result, even when the arguments are wrong.
            sent = arguments.get("model", default_model)
            model = sent if isinstance(sent, str) else ""
        try:
            result: CallToolResult = await tool(ctx, **check_arguments(strict, arguments))
            return result
        except LLMError as exc:
            _log.info("llminst.tool.failed", tool=name, error=exc.kind)
            return _error_result(exc, model=model)
        except Exception as exc:
            _log.exception("llminst.tool.crashed", tool=name)
            error = LLMError(
                f"internal error in llminst ({type(exc).__name__}: {exc}); please report it"
            )
            return _error_result(error, model=model)

    return checked


def _ok(model: BaseModel, text: str | None = None) -> CallToolResult:
    data = model.model_dump(mode="json")
    return CallToolResult(
        content=[
            TextContent(
                type="text", text=text if text is not None else model.model_dump_json(indent=2)
            )
        ],
        structured_content=data,
    )


def _execute_result(result: CallResult) -> BaseModel:
    return ExecuteResult(**result.to_dict())


# --------------------------------------------------------------------------------------------
# Progress


_TIMER = object()


@define
class _ProgressForwarder:
    """Sends a call's text as progress notifications: ordered, rate limited, with keepalives.

    Text goes out at once when nothing was sent for `coalesce_s` (a slow stream pays no added
    latency); during a burst, what arrives is batched into one notification per `coalesce_s`,
    or sooner once `coalesce_bytes` are pending. `progress` counts notifications (it must
    increase with each one); `message` carries the text, or None for a keepalive or status
    notice, so concatenating the non-None messages gives the streamed text exactly.
    """

    ctx: Context
    coalesce_s: float
    coalesce_bytes: int
    keepalive_s: float
    sent: int = 0
    pending: list[str] = Factory(list)
    pending_bytes: int = 0
    last_sent_at: float = -math.inf
    last_text_at: float = -math.inf

    async def run(self, stream: CallStream) -> None:
        self.last_sent_at = trio.current_time()
        events = stream.events().__aiter__()
        while True:
            event: object = _TIMER
            # Only the receive may be cut short by the timer (a memory channel loses nothing
            # when cancelled); a send cut short would lose that notification.
            with trio.move_on_at(self._next_deadline()):
                try:
                    event = await events.__anext__()
                except StopAsyncIteration:
                    break
            if event is _TIMER:
                await self._on_timer()
            else:
                await self._on_event(event)
        await self._flush()

    def _next_deadline(self) -> float:
        keepalive = self.last_sent_at + self.keepalive_s
        if not self.pending:
            return keepalive
        return min(keepalive, self.last_text_at + self.coalesce_s)

    async def _on_event(self, event: object) -> None:
        if isinstance(event, TextDelta):
            self.pending.append(event.text)
            self.pending_bytes += len(event.text)
            quiet = trio.current_time() - self.last_text_at >= self.coalesce_s
            if quiet or self.pending_bytes >= self.coalesce_bytes:
                await self._flush()
        elif isinstance(event, RetryScheduled | RetryNotice):
            # A retry (llminst's, or the CLI's own: claude's api_retry lines) shows as a
            # notification without text: the client sees the call is alive, the text stays exact.
            await self._flush()
            await self._send(None)

    async def _on_timer(self) -> None:
        if self.pending:
            await self._flush()
        else:
            await self._send(None)  # keepalive: the CLI is silent, the call is alive

    async def _flush(self) -> None:
        if not self.pending:
            return
        text = "".join(self.pending)
        self.pending = []
        self.pending_bytes = 0
        await self._send(text)
        # Measured from the end of the send: a slow client must not make every chunk look
        # like the first after a quiet spell.
        self.last_text_at = trio.current_time()

    async def _send(self, message: str | None) -> None:
        self.sent += 1
        await self.ctx.report_progress(self.sent, None, message)
        self.last_sent_at = trio.current_time()


# --------------------------------------------------------------------------------------------
# The server


@frozen
class _State:
    supervisor: Supervisor
    options: ServerOptions


def _tool(fn: ToolBody, annotations: ToolAnnotations) -> Tool:
    # The SDK uses docstrings verbatim; clients show them, so drop the source indentation.
    description = inspect.cleandoc(fn.__doc__ or "")
    return strict_tool(fn, _checked, description=description, annotations=annotations)


def _state(ctx: Context) -> _State:
    state = ctx.request_context.lifespan_context
    assert isinstance(state, _State)
    return state


class _Server(MCPServer):
    """The SDK's server, whose streamable HTTP app answers a body that is not a JSON-RPC
    message with the error stdio gives (see `wire`), whoever serves the app."""

    def streamable_http_app(
        self,
        *,
        streamable_http_path: str = "/mcp",
        max_request_body_size: int = DEFAULT_MAX_REQUEST_BODY_SIZE,
        **options: Any,
    ) -> Starlette:
        app = super().streamable_http_app(
            streamable_http_path=streamable_http_path,
            max_request_body_size=max_request_body_size,
            **options,
        )
        app.add_middleware(
            AnswerMalformedMessages,
            path=streamable_http_path,
            max_body_size=max_request_body_size,
        )
        return app


def create_server(options: ServerOptions) -> MCPServer:
    """Build the MCP server; its lifespan owns one supervisor for the server's whole life."""

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[_State]:
        async with open_supervisor(
            models=options.models,
            settings=options.settings,
            base_env=options.base_env,
            backoff=options.backoff,
            # The server owns its children's descendants: those that escape their process
            # group (setsid) are re-parented to it, killed and reaped at the end of each call.
            subreaper=True,
        ) as supervisor:
            _log.info("llminst.server.started", models=sorted(options.models))
            try:
                yield _State(supervisor, options)
            finally:
                _log.info("llminst.server.stopping", running=supervisor.running())

    server = _Server(
        "llminst",
        version=__version__,
        instructions=(
            "Runs LLM command-line tools (claude, gemini, codex, gpt-4, llm, llama, echo, or "
            "any configured command) as supervised subprocesses. Call get_llm_status to see "
            "which are installed; the 'echo' model always works and answers with the prompt."
        ),
        lifespan=lifespan,
        tools=_tools(),
    )
    return server


def _tools() -> list[Tool]:
    running = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)

    async def execute_llm(
        ctx: Context,
        prompt: Prompt,
        model: Annotated[
            str, Field(description="Model name, e.g. claude, gemini, gpt-4, echo, claude:sonnet.")
        ] = "claude",
        timeout: Timeout = None,  # noqa: ASYNC109 (public contract: the call's budget)
        json_mode: Annotated[
            bool, Field(description="Ask for JSON; the validated value is returned as parsed_json.")
        ] = False,
        stream: Annotated[
            bool, Field(description="Stream the text as progress notifications while it runs.")
        ] = True,
        json_schema: Annotated[
            str | dict[str, Any] | None,
            Field(
                description="JSON Schema (JSON text or object) for json_mode; default {question, answer}."
            ),
        ] = None,
    ) -> Annotated[CallToolResult, ExecuteResult]:
        """Run a prompt through an LLM CLI and return the complete result.

        With stream=True and a progress token, the text also arrives as progress notifications
        (the chunk in `message`). Failures are tool errors whose text starts with their kind:
        unknown_model, cli_not_found, credentials_missing, rate_limited, timeout (with the
        partial output), process_failed (with the stderr tail), invalid_json_schema,
        json_not_found / json_schema_mismatch (with the raw output).
        """
        state = _state(ctx)
        result = await _run(
            state, ctx, model, prompt, timeout, json_mode, json_schema, forward=stream
        )
        return _ok(_execute_result(result), text=_result_text(result))

    async def stream_llm(
        ctx: Context,
        model: Annotated[
            str, Field(description="Model name, e.g. claude, echo, gemini:gemini-2.5-flash.")
        ],
        prompt: Prompt,
        timeout: Timeout = None,  # noqa: ASYNC109 (public contract: the call's budget)
    ) -> Annotated[CallToolResult, ExecuteResult]:
        """Stream a prompt's answer as progress notifications, then return the full text.

        Each notification's `message` is the next piece of text (coalesced to about every
        50 ms); notifications with no message are keepalives sent while the CLI is silent (at
        least every 10 s), so clients that reset their timeout on progress keep waiting.
        """
        state = _state(ctx)
        result = await _run(state, ctx, model, prompt, timeout, False, None, forward=True)
        return _ok(_execute_result(result), text=result.output)

    async def get_llm_status(
        ctx: Context,
        probe: Annotated[
            bool,
            Field(description="Also run a tiny prompt on each available model (spends tokens)."),
        ] = False,
    ) -> Annotated[CallToolResult, StatusResult]:
        """Which models are installed, their versions, credential variables set (names only),
        timeout categories and concurrency limits, with a hint for fixing what is missing."""
        statuses = await _state(ctx).supervisor.status(probe=probe)
        out = StatusResult(
            server_version=__version__,
            models=[ModelStatusOut(**s.to_dict()) for s in statuses],
            available=[s.model for s in statuses if s.available],
            unavailable=[s.model for s in statuses if not s.available],
        )
        return _ok(out)

    async def estimate_tokens(
        ctx: Context,
        text: Annotated[str, Field(description="The text to estimate.")],
        model: Annotated[
            str, Field(description="Model whose tokenizer to estimate for.")
        ] = "claude",
    ) -> Annotated[CallToolResult, TokenEstimateOut]:
        """Estimate how many tokens `text` costs for `model` (a heuristic; see `method`)."""
        estimate = _estimate_tokens(text, model)
        return _ok(
            TokenEstimateOut(
                model=model,
                tokens=estimate.tokens,
                characters=len(text),
                family=estimate.family,
                method=estimate.method,
            )
        )

    async def configure_llm(
        ctx: Context,
        model: Annotated[str, Field(description="The model name to add or update.")],
        command: Annotated[
            list[str] | str | None,
            _opt(
                'The CLI argv: a list (["mycli", "--flag"]) or one string split like a shell '
                "would (no shell runs). An element exactly {prompt} is where the prompt goes; "
                "otherwise it is appended. Required for a new model."
            ),
        ] = None,
        timeout_category: Annotated[
            str | None,
            _opt("quick (60 s), normal (300 s, the default), long (600 s) or extended (1800 s)."),
        ] = None,
        rate_limit_patterns: Annotated[
            list[str] | None,
            _opt(
                "Regexes (case-insensitive) meaning the CLI is rate limited; retried with backoff."
            ),
        ] = None,
        prompt_mode: Annotated[str | None, _opt("argv (default) or stdin.")] = None,
        stdin_fallback: Annotated[
            bool | None, _opt("The CLI also reads the prompt from stdin (used for huge prompts).")
        ] = None,
        prompt_separator: Annotated[
            str | None, _opt('Inserted before an appended prompt, e.g. "--".')
        ] = None,
        stream_args: Annotated[list[str] | None, _opt("Extra args when streaming.")] = None,
        json_args: Annotated[list[str] | None, _opt("Extra args in JSON mode.")] = None,
        json_schema_args: Annotated[
            list[str] | None,
            _opt(
                'Args passing the schema to the CLI natively, e.g. ["--json-schema", "{schema}"]; '
                "used when its --help lists the first one."
            ),
        ] = None,
        submodel_args: Annotated[
            list[str] | None, _opt('Args selecting a sub-model, e.g. ["--model", "{submodel}"].')
        ] = None,
        default_submodel: Annotated[
            str | None, _opt("The sub-model used when the call names none (needs submodel_args).")
        ] = None,
        output_format: Annotated[str | None, _opt("text or claude-stream-json.")] = None,
        env: Annotated[dict[str, str] | None, _opt("Environment variables to add.")] = None,
        env_remove: Annotated[
            list[str] | None, _opt("Environment variable names to remove.")
        ] = None,
        credential_env: Annotated[
            list[str] | None, _opt("Variables holding credentials (reported by name only).")
        ] = None,
        auth_patterns: Annotated[
            list[str] | None, _opt("Regexes meaning the CLI lacks credentials.")
        ] = None,
        auth_hint: Annotated[str | None, _opt("How to fix missing credentials.")] = None,
        error_hints: Annotated[
            dict[str, str] | None,
            _opt("Regex -> fix, for fatal errors the CLI reports that need a specific fix."),
        ] = None,
        install_hint: Annotated[str | None, _opt("How to install the CLI.")] = None,
        max_attempts: Annotated[int | None, _opt("Attempts for rate limits (default 3).")] = None,
        max_concurrency: Annotated[int | None, _opt("Concurrent calls of this model.")] = None,
        cwd: Annotated[str | None, _opt("Working directory of the CLI.")] = None,
        version_command: Annotated[
            list[str] | None,
            _opt(
                "The argv printing the version cheaply ({executable} is the executable); "
                "without it status runs nothing to read a version."
            ),
        ] = None,
    ) -> Annotated[CallToolResult, ConfigureResult]:
        """Add or update a model at runtime.

        Omitted fields keep their current value (or the default, for a new model, which needs a
        command). An executable that is not installed yet is accepted with a warning;
        get_llm_status shows the model unavailable until it is."""
        state = _state(ctx)
        if not state.options.allow_configure:
            raise InvalidInputError(
                "configure_llm is disabled on this server (it would let a client run any "
                "command); start it with --allow-configure to enable it, or add the model to the "
                "config file"
            )
        given = {
            "timeout_category": timeout_category,
            "rate_limit_patterns": rate_limit_patterns,
            "prompt_mode": prompt_mode,
            "stdin_fallback": stdin_fallback,
            "prompt_separator": prompt_separator,
            "stream_args": stream_args,
            "json_args": json_args,
            "json_schema_args": json_schema_args,
            "submodel_args": submodel_args,
            "default_submodel": default_submodel,
            "output_format": output_format,
            "env": env,
            "env_remove": env_remove,
            "credential_env": credential_env,
            "auth_patterns": auth_patterns,
            "auth_hint": auth_hint,
            "error_hints": error_hints,
            "install_hint": install_hint,
            "max_attempts": max_attempts,
            "max_concurrency": max_concurrency,
            "cwd": cwd,
            "version_command": version_command,
        }
        fields = {key: value for key, value in given.items() if value is not None}
        spec, created = _configure(
            state.supervisor, model, command, fields, allowed=state.options.allowed_commands
        )
        path = state.supervisor.find_executable(spec)
        warnings = []
        if path is None:
            warnings.append(
                f"executable {spec.executable!r} is not on PATH yet; calls will fail with "
                "cli_not_found until it is installed"
            )
        _log.info("llminst.model.configured", model=spec.name, created=created)
        return _ok(
            ConfigureResult(
                model=spec.name,
                created=created,
                command=list(spec.command),
                timeout_category=spec.timeout_category.value,
                rate_limit_patterns=list(spec.rate_limit_patterns),
                available=path is not None,
                executable_path=path,
                warnings=warnings,
            )
        )

    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    return [
        _tool(execute_llm, running),
        _tool(stream_llm, running),
        _tool(get_llm_status, read_only),
        _tool(estimate_tokens, read_only),
        _tool(configure_llm, ToolAnnotations(destructive_hint=True, open_world_hint=False)),
    ]


def _configure(
    supervisor: Supervisor,
    model: str,
    command: list[str] | str | None,
    fields: dict[str, Any],
    *,
    allowed: tuple[str, ...] | None,
) -> tuple[ModelSpec, bool]:
    """Add `model`, or update the keys given of the model that exists (the others keep theirs).

    Raises:
        ConfigError: a new model without a command, or a value the config file would refuse.
        InvalidInputError: an executable or variable the allowlist does not permit.
    """
    existing = supervisor.models.get(model)
    if command is None and existing is None:
        raise ConfigError(
            'a new model needs \'command\' (the CLI\'s argv, e.g. ["mycli", "--flag"]); without '
            f"it, name a model that exists to update it: {', '.join(sorted(supervisor.models))}",
            source="configure_llm",
            key=model,
        )
    if isinstance(command, str):
        try:
            command = shlex.split(command)
        except ValueError as exc:
            raise ConfigError(
                f"cannot split the command string ({exc}); pass a list instead",
                source="configure_llm",
                key=f"{model}.command",
            ) from None
    if command is not None:
        fields = {**fields, "command": command}
    spec = spec_from_mapping(model, fields, base=existing, source="configure_llm", key_prefix=model)
    if allowed is not None:
        _check_allowed(supervisor, spec, fields.get("env", {}), allowed)
    supervisor.configure(spec)
    return spec, existing is None


# Variables with which an allowed executable would load or run code the client chose.
_CODE_LOADING_ENV = re.compile(
    r"PATH|LD_.*|DYLD_.*|PYTHON.*|NODE_OPTIONS|NODE_PATH|BASH_ENV|ENV|PERL5.*|RUBY.*|GCONV_PATH"
    r"|IFS|SHELLOPTS|GIT_.*|NPM_CONFIG_.*|npm_config_.*"
)


def _check_allowed(
    supervisor: Supervisor, spec: ModelSpec, env: Mapping[str, str], allowed: tuple[str, ...]
) -> None:
    """Refuse a spec whose executables are not on the allowlist (compared as real paths)."""
    risky = sorted(name for name in env if _CODE_LOADING_ENV.fullmatch(name))
    if risky:
        raise InvalidInputError(
            f"configure_llm: this server only runs allowlisted executables, so env may not set "
            f"{', '.join(risky)} (they make a program load other code); set them in the "
            "server's own environment or config file instead"
        )
    permitted = {
        os.path.realpath(path)
        for name in allowed
        if (path := supervisor.find_executable(attrs.evolve(spec, command=(name,))))
    }
    argvs = [("command", spec.command)]
    if spec.version_argv:
        argvs.append(("version_command", spec.version_argv))
    for key, argv in argvs:
        path = supervisor.find_executable(attrs.evolve(spec, command=argv))
        if path is None or os.path.realpath(path) not in permitted:
            where = "not found on PATH" if path is None else f"resolves to {path}"
            raise InvalidInputError(
                f"configure_llm: {key} {argv[0]!r} ({where}) is not on this server's allowlist "
                f"of executables ({', '.join(allowed) or 'empty'}); the server's operator can "
                "add it with --allow-command or [server] allow_commands in the config file"
            )


async def _run(
    state: _State,
    ctx: Context,
    model: str,
    prompt: str,
    timeout: float | None,  # noqa: ASYNC109 (the tools' parameter, passed through)
    json_mode: bool,
    json_schema: str | dict[str, Any] | None,
    *,
    forward: bool,
) -> CallResult:
    options = state.options
    async with state.supervisor.open_stream(
        model, prompt, timeout=timeout, json_mode=json_mode, json_schema=json_schema, stream=forward
    ) as stream:
        if forward:
            forwarder = _ProgressForwarder(
                ctx,
                coalesce_s=options.coalesce_s,
                coalesce_bytes=options.coalesce_bytes,
                keepalive_s=options.keepalive_s,
            )
            await forwarder.run(stream)
        return await stream.wait()


def _result_text(result: CallResult) -> str:
    if result.parsed_json is not None:
        return json.dumps(result.parsed_json, ensure_ascii=False, indent=2)
    return result.output
