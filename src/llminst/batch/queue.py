"""`BatchQueue`: what a batch's queue offers, whichever backend holds it.

A queue keeps batches (their items, in file order) and, per item, its state: pending, running
(with the runner's name), or done with one `ItemResult`. `complete` is the one write that ends an
item, and it is set-if-absent: of two runners that ran the same item (a worker thought dead, a
duplicate delivery), exactly one result is kept and the other is told so.

What it must never do: run a call, start a process, or keep two results for one item.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from attrs import frozen

from .._core.batchfile import BatchItem, BatchProgress, ItemResult

__all__ = ["BatchQueue", "Claimed"]


@frozen
class Claimed:
    """An item a runner took: the item and the queue's handle for it (a stream entry id)."""

    batch_id: str
    item: BatchItem
    handle: str = ""


class BatchQueue(Protocol):
    """Where batches wait to be run and their results are kept."""

    async def create(
        self, batch_id: str, items: Sequence[BatchItem], *, source: str, now: float
    ) -> None:
        """Keep a new batch (every item pending). Raises InvalidInputError if it exists."""

    async def exists(self, batch_id: str) -> bool:
        """Whether a batch of that id is kept."""

    async def complete(self, claimed: Claimed, result: ItemResult) -> bool:
        """Keep `result` as the item's unless it already has one; whether this one was kept."""

    async def is_done(self, batch_id: str, item_id: str) -> bool:
        """Whether the item already has its result."""

    async def progress(self, batch_id: str) -> BatchProgress | None:
        """How far the batch is (None: no such batch)."""

    async def results(self, batch_id: str) -> list[ItemResult]:
        """The results kept so far, in the batch file's order."""

    async def list_batches(self, *, limit: int = 20) -> list[BatchProgress]:
        """The most recent batches, newest first."""
