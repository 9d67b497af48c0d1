"""Gathering the requests that arrive together into one office call: :class:`Batcher`.

A relying party's verification costs a handful of round trips (the shared store, the
register, the audit commit) and a worker-thread hop; at a few hundred a second per worker
those dominate the CPU.  The office verifies a batch with one of each
(:meth:`~card_service.office.Office.verify_presentations`), so the service hands it the
verifications that are waiting together: a request joins the queue; when fewer than
``concurrency`` batches are running, a batch of up to ``max_batch`` queued requests starts
in a worker thread; whatever arrives meanwhile forms the next batch.  Under light load a
batch is one request (no waiting for company); under heavy load batches grow by themselves.

A caller that stops waiting (its client left, its timeout) does not take its request back:
the batch it joined still runs it to the end (its nonce spent, its audit entry written), as
a cancelled worker-thread call always did.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import anyio.to_thread

__all__ = ["Batcher"]

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Answer = TypeVar("Answer")


class Batcher(Generic[Item, Answer]):
    """Run ``work`` (blocking: ``items -> one answer or exception per item, in order``) on
    batches of the items submitted together.  Bound to the event loop of its first use."""

    def __init__(
        self,
        work: Callable[[Sequence[Item]], Sequence[Answer | BaseException]],
        *,
        max_batch: int = 64,
        concurrency: int = 2,
    ) -> None:
        if max_batch < 1 or concurrency < 1:
            raise ValueError("a batcher needs max_batch >= 1 and concurrency >= 1")
        self._work = work
        self._max = max_batch
        self._concurrency = concurrency
        self._queue: list[tuple[Item, asyncio.Future[Answer]]] = []
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references
        #: Batches run and items answered (for tests and benchmarks).
        self.batches = 0
        self.items = 0

    async def submit(self, item: Item) -> Answer:
        """``item``'s answer (or its exception), once the batch it joined has run."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()
        self._queue.append((item, future))
        if self._running < self._concurrency:
            self._running += 1
            task = loop.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self._max], self._queue[self._max :]
                await self._run(batch)
        finally:
            self._running -= 1

    async def _run(self, batch: list[tuple[Item, asyncio.Future[Answer]]]) -> None:
        items = [item for item, _ in batch]
        try:
            answers: Sequence[Answer | BaseException] = await anyio.to_thread.run_sync(
                self._work, items
            )
            if len(answers) != len(items):
                raise RuntimeError("a batch answered another number of items")
        except Exception as exc:  # every caller of the batch gets the failure
            log.debug("a batch of %d failed: %s", len(items), type(exc).__name__)
            answers = [exc] * len(items)
        self.batches += 1
        self.items += len(items)
        for (_, future), answer in zip(batch, answers, strict=True):
            if future.done():  # the caller stopped waiting (cancelled)
                continue
            if isinstance(answer, BaseException):
                future.set_exception(answer)
            else:
                future.set_result(answer)
