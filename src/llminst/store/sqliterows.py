"""Records as SQLite rows and back: which fields are JSON, how a call's text is made storable,
and the budget's sums per period (`PERIOD_SPEND_SQL`, `period_spends`).

Pure conversions used by `SQLiteStore`; they never touch a connection.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import attrs

from .._core.budget import ModelSpend
from .._core.records import CallOrigin, CallRecord, CallState, SessionRecord, Turn

__all__ = [
    "CALL_FIELDS",
    "LEDGER_SQL",
    "PERIOD_SPEND_SQL",
    "call_record",
    "call_row",
    "ledger_record",
    "period_spends",
    "session_record",
    "session_row",
    "storable",
    "to_column",
]

CALL_FIELDS = tuple(a.name for a in attrs.fields(CallRecord))
JSON_FIELDS = frozenset({"usage", "result"})
SESSION_FIELDS = tuple(a.name for a in attrs.fields(SessionRecord))


def to_column(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in JSON_FIELDS:
        return json.dumps(value, ensure_ascii=False, default=str)
    if name in ("state", "origin"):
        return str(value.value if hasattr(value, "value") else value)
    if name == "prompt" and isinstance(value, str):
        return storable(value)
    return value


def call_row(record: CallRecord) -> dict[str, Any]:
    return {name: to_column(name, getattr(record, name)) for name in CALL_FIELDS}


def call_record(row: sqlite3.Row) -> CallRecord:
    values = {name: row[name] for name in CALL_FIELDS}
    for name in JSON_FIELDS:
        if values[name] is not None:
            values[name] = json.loads(values[name])
    values["state"] = CallState(values["state"])
    values["origin"] = CallOrigin(values["origin"])
    return CallRecord(**values)


def ledger_record(row: sqlite3.Row) -> CallRecord:
    """A call as the ledger needs it, from a `_LEDGER_SQL` row."""
    return CallRecord(
        call_id=row["call_id"],
        model=row["model"],
        state=CallState(row["state"]),
        created_at=row["created_at"],
        attempts=row["attempts"],
        usage=json.loads(row["usage"]) if row["usage"] is not None else None,
        cost_usd=row["cost_usd"],
        session=row["session"],
        result=json.loads(row["result"]),
    )


def session_row(record: SessionRecord) -> dict[str, Any]:
    row = {name: getattr(record, name) for name in SESSION_FIELDS}
    row["turns"] = json.dumps([attrs.asdict(turn) for turn in record.turns], ensure_ascii=False)
    return row


def session_record(row: sqlite3.Row) -> SessionRecord:
    values = {name: row[name] for name in SESSION_FIELDS}
    values["turns"] = tuple(Turn(**turn) for turn in json.loads(values["turns"]))
    return SessionRecord(**values)


def storable(text: str) -> str:
    """`text` as SQLite can keep it: a lone surrogate (not UTF-8) becomes '?', one for one, so
    character counts stay those of the text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


# `SQLiteStore.period_spend`: `ModelSpend` per answering model (`_core.ledger.record_group`): a call is priced unless
# answered from the cache (``cached`` truthy) or run without a known cost.
PERIOD_SPEND_SQL = """
SELECT answered, SUM(cost_usd),
       SUM(CASE WHEN cached THEN 0 WHEN cost_usd IS NULL AND attempts > 0 THEN 0 ELSE 1 END)
FROM (
    SELECT CASE json_type(result, '$.model') WHEN 'text' THEN json_extract(result, '$.model')
                ELSE model END AS answered,
           CASE json_type(result, '$.cached') WHEN 'true' THEN 1
                WHEN 'integer' THEN json_extract(result, '$.cached') != 0
                WHEN 'real' THEN json_extract(result, '$.cached') != 0
                WHEN 'text' THEN json_extract(result, '$.cached') != ''
                WHEN 'array' THEN json_array_length(result, '$.cached') > 0
                WHEN 'object' THEN json_extract(result, '$.cached') != '{}'
                ELSE 0 END AS cached,
           cost_usd, attempts
    FROM calls
    WHERE state NOT IN (?, ?) AND created_at >= ? AND created_at < ?
)
GROUP BY answered ORDER BY answered
"""


def period_spends(rows: list[sqlite3.Row]) -> list[ModelSpend]:
    """`PERIOD_SPEND_SQL`'s rows (model, cost, priced) as `ModelSpend`, the empty left out."""
    spends = [
        ModelSpend(model=row[0], cost_usd=round(row[1] or 0.0, 9), priced=row[2]) for row in rows
    ]
    return [spend for spend in spends if spend.cost_usd or spend.priced]


# The ledger reads only what it sums: the ended calls since a time, with the three fields of
# their result it needs (the model that answered, a cache hit, the duration).
LEDGER_SQL = """
SELECT call_id, model, state, created_at, attempts, usage, cost_usd, session,
       json_object(
           'model', json_extract(result, '$.model'),
           'cached', json_extract(result, '$.cached'),
           'duration_s', json_extract(result, '$.duration_s')
       ) AS result
FROM calls
WHERE state NOT IN (?, ?) AND created_at >= ?
"""
