"""A nonce is consumed exactly once, whoever races for it: threads on one client instance,
threads on several (workers), separate processes (service instances).  And a rate limit
counted by separate processes adds up."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from card_service.shared_state import ChallengeOutcome, SharedState, on_redis
from card_service.shared_state.model import epoch_ms
from tests.shared_state.conftest import LIMITS

NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
THREADS = 24
ROOT = Path(__file__).resolve().parents[2]


def _race(consumers: list[SharedState], nonce: str) -> Counter[ChallengeOutcome]:
    barrier = threading.Barrier(THREADS)
    outcomes: list[ChallengeOutcome] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        store = consumers[index % len(consumers)].challenges
        barrier.wait()
        outcome = store.consume(nonce, "bank-1", NOW)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return Counter(outcomes)


def test_many_threads_one_consumed(state: SharedState) -> None:
    for _ in range(5):
        nonce = state.challenges.issue("bank-1", NOW).nonce
        assert _race([state], nonce) == {
            ChallengeOutcome.CONSUMED: 1,
            ChallengeOutcome.REPLAYED: THREADS - 1,
        }


def test_many_workers_one_consumed(redis_url: str, prefix: str) -> None:
    workers = [on_redis(redis_url, prefix) for _ in range(4)]
    try:
        for _ in range(5):
            nonce = workers[0].challenges.issue("bank-1", NOW).nonce
            assert _race(workers, nonce)[ChallengeOutcome.CONSUMED] == 1
    finally:
        for worker in workers:
            worker.close()


def _worker(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(  # our own helper module, a fixed argv
        [sys.executable, "-m", "tests.shared_state.worker", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _answers(processes: list[subprocess.Popen[str]]) -> list[Any]:
    """Wait until every process is ready, release them together, collect their answers."""
    for process in processes:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    answers = []
    for process in processes:
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        answers.append(json.loads(out))
    return answers


def test_separate_processes_one_consumed(redis_url: str, prefix: str) -> None:
    state = on_redis(redis_url, prefix)
    try:
        nonces = [state.challenges.issue("bank-1", NOW).nonce for _ in range(20)]
    finally:
        state.close()
    now_ms = str(epoch_ms(NOW))
    # three service processes race for every nonce, in the same order
    processes = [
        _worker("consume", redis_url, prefix, ",".join(nonces), "bank-1", now_ms) for _ in range(3)
    ]
    answers = _answers(processes)
    for index in range(len(nonces)):
        outcomes = sorted(answer[index] for answer in answers)
        assert outcomes == ["consumed", "replayed", "replayed"], index


def test_separate_processes_share_the_rate_limit(redis_url: str, prefix: str) -> None:
    now_ms = str(epoch_ms(NOW))
    # the default class: 5 per 60 s in LIMITS; three processes of 3 hits each
    answers = _answers(
        [_worker("hit", redis_url, prefix, "shop", "other", now_ms, "3") for _ in range(3)]
    )
    decisions = [d for answer in answers for d in answer]
    assert sum(1 for allowed, _, _ in decisions if allowed) == LIMITS.default.requests
    assert not any(degraded for _, _, degraded in decisions)
    state = on_redis(redis_url, prefix, LIMITS)
    try:
        assert not state.limiter.hit("shop", "other", NOW).allowed
    finally:
        state.close()
