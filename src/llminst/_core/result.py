"""`CallResult`: everything one call produced, returned by the Python API and the MCP tools.

Pure data (attrs, frozen); it must stay free of I/O and of trio.
"""

from __future__ import annotations

from typing import Any

from attrs import asdict, field, fields, frozen, has

__all__ = ["CallResult"]


@frozen(kw_only=True)
class CallResult:
    """The outcome of one call (all of its attempts).

    Attributes:
        model: the model name the call used.
        output: the answer text (the last attempt's; possibly truncated, see `truncated`).
        success: True when the CLI succeeded (and, in JSON mode, valid JSON was found).
        exit_code: the last attempt's exit code; negative for a signal; None if it never exited.
        attempts: how many processes were started.
        duration_s: wall time of the whole call, including backoff sleeps.
        timeout_s: the deadline the call ran under.
        timeout_category: the category that timeout came from, or "explicit".
        parsed_json: the validated JSON value in JSON mode, else None.
        usage: token usage when the CLI reported it.
        cost_usd: the CLI's own cost where it reports one, else one from the model's prices
            per million tokens, else None (unknown).
        cost_source: where `cost_usd` comes from: ``cli``, ``prices`` or None (unknown).
        session_id: the CLI's session id when it reported one.
        session: the llminst session the call belongs to (continue it by passing this name
            as ``session`` again), or None.
        stderr_tail: the last few KB of stderr of the last attempt.
        truncated: True when output beyond the size cap was dropped.
        error: a message when the call failed, else None.
        error_kind: the failure's kind (``timeout``, ``rate_limited``, ... as `LLMError.kind`).
        fallback_chain: each model tried before `model` and passed over, in order: ``model``,
            ``error_kind``, ``error`` and ``started`` (whether a process ran for it).
        peak_rss_mb: the largest resident memory of the CLI's process tree measured while it
            ran (MB, sampled from /proc every 0.1 s), over all attempts; None when not measured.
        cached: the answer came from the response cache: no process ran, nothing was spent.
        cached_call_id: for a cached answer, the id of the call that produced it.
        call_id: the supervisor's id of the call: its record in the call store, its output
            readable in pieces (``get_llm_result``, ``llminst://calls/{call_id}/output``).
    """

    model: str
    output: str
    success: bool
    exit_code: int | None
    attempts: int
    duration_s: float
    timeout_s: float
    timeout_category: str
    parsed_json: Any = None
    usage: dict[str, Any] | None = None
    cost_usd: float | None = None
    session_id: str | None = None
    session: str | None = None
    stderr_tail: str = ""
    truncated: bool = False
    error: str | None = None
    error_kind: str | None = None
    fallback_chain: list[dict[str, str | bool]] = field(factory=list)
    peak_rss_mb: float | None = None
    cost_source: str | None = None
    cached: bool = False
    cached_call_id: str | None = None
    call_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain data: what `attrs.asdict` gives (containers copied, their
        types kept), built without its per-field introspection: the recorder makes one per
        call."""
        return {name: _plain(getattr(self, name)) for name in _FIELD_NAMES}


_FIELD_NAMES = tuple(f.name for f in fields(CallResult))
_SCALARS = (str, int, float, bool, type(None))


def _plain(value: Any) -> Any:
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)([_plain(item) for item in value])
    return asdict(value) if has(type(value)) else value
