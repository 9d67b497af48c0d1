"""The HTTP service's request batcher (api/http/batching.py): batches form from the requests
that wait together, each caller gets its own answer or exception, failures and cancellations
stay inside their batch."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence

import pytest

from api.http.batching import Batcher

pytestmark = pytest.mark.asyncio

TIMEOUT = 10


class Gate:
    """A blocking work function: records each batch, and the first batch waits until
    :meth:`open` (so the later submissions queue behind it)."""

    def __init__(self, answer: Callable[[Sequence[int]], Sequence[object]] | None = None) -> None:
        self.started = threading.Event()
        self._release = threading.Event()
        self.seen: list[list[int]] = []
        self._answer = answer

    def __call__(self, items: Sequence[int]) -> Sequence[object]:
        self.seen.append(list(items))
        self.started.set()
        assert self._release.wait(TIMEOUT), "the test never opened the gate"
        if self._answer is not None:
            return self._answer(items)
        return [item * 10 for item in items]

    def open(self) -> None:
        self._release.set()

    async def wait_started(self) -> None:
        assert await asyncio.to_thread(self.started.wait, TIMEOUT)


async def _queue_behind_first(
    batcher: Batcher[int, object], gate: Gate, first: int, later: Sequence[int]
) -> tuple[asyncio.Task[object], list[asyncio.Task[object]]]:
    """Submit ``first`` (its batch blocks in the gate), then ``later`` (they queue)."""
    head = asyncio.create_task(batcher.submit(first))
    await gate.wait_started()
    tails = [asyncio.create_task(batcher.submit(item)) for item in later]
    for _ in range(3):  # let every task reach its queue append
        await asyncio.sleep(0)
    return head, tails


async def test_waiting_requests_form_one_batch() -> None:
    gate = Gate()
    batcher: Batcher[int, object] = Batcher(gate, max_batch=64, concurrency=1)
    head, tails = await _queue_behind_first(batcher, gate, 1, [2, 3, 4])
    gate.open()
    answers = await asyncio.wait_for(asyncio.gather(head, *tails), TIMEOUT)
    assert answers == [10, 20, 30, 40]
    assert gate.seen == [[1], [2, 3, 4]]
    assert (batcher.batches, batcher.items) == (2, 4)


async def test_a_lone_request_runs_alone() -> None:
    batcher: Batcher[int, int] = Batcher(lambda items: [i + 1 for i in items])
    assert await asyncio.wait_for(batcher.submit(41), TIMEOUT) == 42
    assert (batcher.batches, batcher.items) == (1, 1)


async def test_max_batch_is_respected() -> None:
    gate = Gate()
    batcher: Batcher[int, object] = Batcher(gate, max_batch=2, concurrency=1)
    head, tails = await _queue_behind_first(batcher, gate, 0, [1, 2, 3, 4, 5])
    gate.open()
    answers = await asyncio.wait_for(asyncio.gather(head, *tails), TIMEOUT)
    assert answers == [0, 10, 20, 30, 40, 50]
    assert gate.seen == [[0], [1, 2], [3, 4], [5]]
    assert all(len(batch) <= 2 for batch in gate.seen)
    assert (batcher.batches, batcher.items) == (4, 6)


async def test_concurrency_bounds_the_running_batches() -> None:
    gate = Gate()
    running = 0
    peak = 0
    lock = threading.Lock()

    def work(items: Sequence[int]) -> Sequence[object]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            return gate(items)
        finally:
            with lock:
                running -= 1

    batcher: Batcher[int, object] = Batcher(work, max_batch=1, concurrency=2)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(6)]
    await gate.wait_started()
    gate.open()
    assert await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT) == [0, 10, 20, 30, 40, 50]
    assert 1 <= peak <= 2
    assert (batcher.batches, batcher.items) == (6, 6)


async def test_each_caller_gets_its_own_exception() -> None:
    def answer(items: Sequence[int]) -> Sequence[object]:
        return [ValueError(f"odd {i}") if i % 2 else i for i in items]

    gate = Gate(answer)
    batcher: Batcher[int, object] = Batcher(gate, concurrency=1)
    head, tails = await _queue_behind_first(batcher, gate, 0, [1, 2, 3])
    gate.open()
    results = await asyncio.wait_for(asyncio.gather(head, *tails, return_exceptions=True), TIMEOUT)
    assert gate.seen == [[0], [1, 2, 3]]
    assert results[0] == 0 and results[2] == 2
    assert isinstance(results[1], ValueError) and str(results[1]) == "odd 1"
    assert isinstance(results[3], ValueError) and str(results[3]) == "odd 3"


async def test_a_failing_batch_fails_every_caller_of_that_batch_only() -> None:
    class Boom(Exception):
        pass

    def answer(items: Sequence[int]) -> Sequence[object]:
        if 2 in items:
            raise Boom("the office fell over")
        return list(items)

    gate = Gate(answer)
    batcher: Batcher[int, object] = Batcher(gate, concurrency=1)
    head, tails = await _queue_behind_first(batcher, gate, 1, [2, 3])
    gate.open()
    results = await asyncio.wait_for(asyncio.gather(head, *tails, return_exceptions=True), TIMEOUT)
    assert gate.seen == [[1], [2, 3]]
    assert results[0] == 1
    assert all(isinstance(r, Boom) for r in results[1:])
    # the batcher keeps working afterwards
    assert await asyncio.wait_for(batcher.submit(7), TIMEOUT) == 7


async def test_a_wrong_number_of_answers_fails_every_caller() -> None:
    gate = Gate(lambda items: list(items)[:-1])
    batcher: Batcher[int, object] = Batcher(gate, concurrency=1)
    head, tails = await _queue_behind_first(batcher, gate, 1, [2, 3])
    gate.open()
    results = await asyncio.wait_for(asyncio.gather(head, *tails, return_exceptions=True), TIMEOUT)
    assert all(isinstance(r, RuntimeError) for r in results), results


async def test_too_many_answers_fail_every_caller() -> None:
    batcher: Batcher[int, object] = Batcher(lambda items: [*items, 99])
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(batcher.submit(1), TIMEOUT)


async def test_a_cancelled_caller_leaves_the_others_and_its_item_still_runs() -> None:
    gate = Gate()
    batcher: Batcher[int, object] = Batcher(gate, concurrency=1)
    head, (gone, stays) = await _queue_behind_first(batcher, gate, 1, [2, 3])
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    gate.open()
    assert list(await asyncio.wait_for(asyncio.gather(head, stays), TIMEOUT)) == [10, 30]
    assert gate.seen == [[1], [2, 3]]  # the cancelled caller's item was run
    assert (batcher.batches, batcher.items) == (2, 3)


async def test_a_cancelled_caller_of_the_running_batch_does_not_break_it() -> None:
    gate = Gate()
    batcher: Batcher[int, object] = Batcher(gate, concurrency=1)
    head, (tail,) = await _queue_behind_first(batcher, gate, 1, [2])
    head.cancel()
    with pytest.raises(asyncio.CancelledError):
        await head
    gate.open()
    assert await asyncio.wait_for(tail, TIMEOUT) == 20
    assert gate.seen == [[1], [2]]


@pytest.mark.parametrize(("max_batch", "concurrency"), [(0, 1), (1, 0), (-1, 2), (5, -3)])
async def test_bad_parameters(max_batch: int, concurrency: int) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        Batcher(lambda items: list(items), max_batch=max_batch, concurrency=concurrency)
