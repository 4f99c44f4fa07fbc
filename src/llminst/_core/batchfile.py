"""Batches, as data: the JSONL file a batch is made of (`parse_batch`), one item of it
(`BatchItem`), the result each item ends with (`ItemResult`) and a batch's progress
(`BatchProgress`).

A batch file has one JSON object per line: ``{"prompt": ..., "model"?, "json_schema"?,
"session"?, "id"?}``. Blank lines are skipped; an item without ``id`` is named after its line
number; an item without ``model`` takes the command's default model. Every mistake is found
before anything runs and named by its line (``line 3: ...``).

Pure: no trio, no file, no clock. What it must never do: accept a line it cannot run as given
(an unknown key, a duplicate id, a prompt that is not text), or lose an item's order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from attrs import frozen

from .errors import InvalidInputError
from .sessions import check_session_name

__all__ = [
    "ITEM_KEYS",
    "BatchItem",
    "BatchProgress",
    "ItemResult",
    "parse_batch",
    "progress_of",
]

ITEM_KEYS = ("prompt", "model", "json_schema", "session", "id")
ITEM_ID_MAX = 200
# The states a finished item can have: its call succeeded, or failed with an error kind.
DONE_STATES = ("succeeded", "failed")


@frozen(kw_only=True)
class BatchItem:
    """One prompt of a batch.

    Attributes:
        item_id: unique within the batch (the line's ``id``, else its line number).
        prompt: the prompt, passed to the CLI as given.
        model: the model that answers it.
        json_schema: a JSON Schema (as JSON text) for JSON mode, or None for plain text.
        session: a session the call opens or continues, or None.
    """

    item_id: str
    prompt: str
    model: str
    json_schema: str | None = None
    session: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.item_id,
                "prompt": self.prompt,
                "model": self.model,
                "json_schema": self.json_schema,
                "session": self.session,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> BatchItem:
        data = json.loads(text)
        return cls(
            item_id=data["id"],
            prompt=data["prompt"],
            model=data["model"],
            json_schema=data.get("json_schema"),
            session=data.get("session"),
        )


@frozen(kw_only=True)
class ItemResult:
    """How an item ended: one line of ``llminst batch results``.

    Attributes:
        item_id, model: the item's.
        state: ``succeeded`` or ``failed``.
        answer: the answer's text (succeeded), else None.
        error: ``kind: message`` (failed), else None.
        call_id: the call's record in the call store (None if no call was recorded).
        worker: who ran it (a worker's name, or ``local``).
    """

    item_id: str
    model: str
    state: str
    answer: str | None = None
    error: str | None = None
    call_id: str | None = None
    worker: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.item_id,
            "model": self.model,
            "state": self.state,
            "answer": self.answer,
            "error": self.error,
            "call_id": self.call_id,
            "worker": self.worker,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ItemResult:
        data = json.loads(text)
        return cls(
            item_id=data["id"],
            model=data["model"],
            state=data["state"],
            answer=data.get("answer"),
            error=data.get("error"),
            call_id=data.get("call_id"),
            worker=data.get("worker"),
        )


@frozen(kw_only=True)
class BatchProgress:
    """How far a batch is: counts of its items by state, and of runs (reruns included)."""

    batch_id: str
    total: int
    succeeded: int = 0
    failed: int = 0
    running: int = 0
    runs: int = 0
    created_at: float = 0.0
    source: str = ""

    @property
    def done(self) -> int:
        return self.succeeded + self.failed

    @property
    def pending(self) -> int:
        return max(0, self.total - self.done - self.running)

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    def line(self) -> str:
        """One plain line: ``BATCH 12/20 done (11 succeeded, 1 failed), 2 running, 6 pending``."""
        return (
            f"{self.batch_id} {self.done}/{self.total} done ({self.succeeded} succeeded, "
            f"{self.failed} failed), {self.running} running, {self.pending} pending"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "total": self.total,
            "done": self.done,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "running": self.running,
            "pending": self.pending,
            "runs": self.runs,
            "finished": self.finished,
            "created_at": self.created_at,
            "source": self.source,
        }


def progress_of(
    batch_id: str,
    total: int,
    states: Iterable[str],
    *,
    runs: int = 0,
    created_at: float = 0.0,
    source: str = "",
) -> BatchProgress:
    """Count `states` (one per item that is running or done) into a `BatchProgress`."""
    counts = {"succeeded": 0, "failed": 0, "running": 0}
    for state in states:
        if state in counts:
            counts[state] += 1
    return BatchProgress(
        batch_id=batch_id, total=total, runs=runs, created_at=created_at, source=source, **counts
    )


def parse_batch(text: str, *, default_model: str | None = None) -> list[BatchItem]:
    """The items of a batch file, in order.

    Args:
        text: the file's content (JSONL).
        default_model: the model of items that name none (None: every item must).

    Raises:
        InvalidInputError: ``line N: <what is wrong>; <the fix>`` for the first bad line, or
            for a file with no item at all.
    """
    items: list[BatchItem] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        item = _parse_line(line, number, default_model)
        if item.item_id in seen:
            raise _line_error(
                number,
                f"id {item.item_id!r} was already used on line {seen[item.item_id]}; "
                "give every item its own id",
            )
        seen[item.item_id] = number
        items.append(item)
    if not items:
        raise InvalidInputError(
            "the batch file has no items: write one JSON object per line, "
            'e.g. {"prompt": "Say hi", "model": "claude"}'
        )
    return items


def _parse_line(line: str, number: int, default_model: str | None) -> BatchItem:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _line_error(
            number, f"not valid JSON ({exc.msg} at column {exc.colno}); one object per line"
        ) from None
    if not isinstance(data, dict):
        raise _line_error(number, f"expected a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(ITEM_KEYS))
    if unknown:
        raise _line_error(
            number, f"unknown key {unknown[0]!r}; the keys are {', '.join(ITEM_KEYS)}"
        )
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _line_error(number, '"prompt" must be a non-empty string')
    return BatchItem(
        item_id=_item_id(data.get("id"), number),
        prompt=prompt,
        model=_model(data.get("model"), number, default_model),
        json_schema=_schema(data.get("json_schema"), number),
        session=_session(data.get("session"), number),
    )


def _item_id(value: object, number: int) -> str:
    if value is None:
        return str(number)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _line_error(number, '"id" must be a string or an integer')
    item_id = str(value)
    if not item_id or len(item_id) > ITEM_ID_MAX:
        raise _line_error(number, f'"id" must be 1 to {ITEM_ID_MAX} characters')
    return item_id


def _model(value: object, number: int, default_model: str | None) -> str:
    if value is None:
        if default_model is None:
            raise _line_error(
                number, 'no "model": name one on the line or pass --model for the whole batch'
            )
        return default_model
    if not isinstance(value, str) or not value.strip():
        raise _line_error(number, '"model" must be a non-empty string (e.g. "claude")')
    return value


def _schema(value: object, number: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise _line_error(number, '"json_schema" is a string but not JSON text') from None
    if not isinstance(value, Mapping | bool):
        raise _line_error(number, '"json_schema" must be a JSON Schema object')
    return json.dumps(value, ensure_ascii=False)


def _session(value: object, number: int) -> str | None:
    if value is None:
        return None
    try:
        return check_session_name(value)
    except InvalidInputError as exc:
        raise _line_error(number, f'"session": {exc.message}') from None


def _line_error(number: int, problem: str) -> InvalidInputError:
    return InvalidInputError(f"line {number}: {problem}")
