"""consume_many and hit_many (one round trip for a batch) decide as consume and hit one by one,
in order, on both backends; a Redis that lost its scripts still answers; a Redis that is down
fails the challenges closed and degrades the limiter to this process's memory."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence

import pytest
import redis

from card_service.shared_state import (
    ChallengeOutcome,
    SharedState,
    SharedStateUnavailable,
    in_memory,
    on_redis,
)
from card_service.shared_state.model import ChallengeStore, Claim, Hit, RateDecision
from tests.shared_state.conftest import LIMITS, PrivateRedis, free_port

NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)
UNKNOWN_NONCE = "A" * 43

C = ChallengeOutcome
EXPECTED = [
    C.CONSUMED,  # first use
    C.UNKNOWN,  # malformed
    C.REPLAYED,  # the same nonce again, in the same batch
    C.EXPIRED,  # at its expiry
    C.OTHER_CLIENT,  # another client's nonce
    C.REPLAYED,  # ... which that attempt burned, for its own client too
    C.UNKNOWN,  # well-formed, never issued
    C.REPLAYED,  # consumed before the batch
    C.CONSUMED,  # a second fresh nonce
    C.UNKNOWN,  # empty
    C.UNKNOWN,  # a glob
]


@pytest.fixture
def twin(backend: str, request: pytest.FixtureRequest) -> Iterator[SharedState]:
    """A second, empty shared state on the same backend (for the one-by-one run)."""
    if backend == "memory":
        shared = in_memory(LIMITS)
    else:
        url = request.getfixturevalue("redis_url")
        shared = on_redis(url, request.getfixturevalue("prefix") + "twin:", LIMITS)
    try:
        yield shared
    finally:
        shared.close()


def _claims(store: ChallengeStore) -> list[Claim]:
    """Issue the scenario's challenges on ``store``; the claims of :data:`EXPECTED`."""
    fresh = store.issue("bank-1", NOW)
    second = store.issue("bank-1", NOW)
    short = store.issue("bank-1", NOW, dt.timedelta(seconds=30))
    foreign = store.issue("bank-1", NOW)
    spent = store.issue("bank-1", NOW)
    assert store.consume(spent.nonce, "bank-1", NOW) is C.CONSUMED
    at = NOW + SECOND
    return [
        (fresh.nonce, "bank-1", at),
        ("A" * 42 + ":", "bank-1", at),
        (fresh.nonce, "bank-1", at),
        (short.nonce, "bank-1", NOW + dt.timedelta(seconds=30)),
        (foreign.nonce, "shop-2", at),
        (foreign.nonce, "bank-1", at),
        (UNKNOWN_NONCE, "bank-1", at),
        (spent.nonce, "bank-1", at),
        (second.nonce, "bank-1", at),
        ("", "bank-1", at),
        ("*" * 43, "bank-1", at),
    ]


def _one_by_one(store: ChallengeStore, claims: Sequence[Claim]) -> list[ChallengeOutcome]:
    return [store.consume(nonce, client, now) for nonce, client, now in claims]


def test_consume_many_decides_as_consume_one_by_one(state: SharedState, twin: SharedState) -> None:
    batched = state.challenges.consume_many(_claims(state.challenges))
    single = _one_by_one(twin.challenges, _claims(twin.challenges))
    assert batched == single == EXPECTED


def test_consume_many_spends_what_it_consumed(state: SharedState) -> None:
    claims = _claims(state.challenges)
    assert state.challenges.consume_many(claims) == EXPECTED
    # everything the batch consumed or burned is spent for later batches and single calls
    again = state.challenges.consume_many(claims)
    assert C.CONSUMED not in again
    assert all(state.challenges.consume(n, c, t) is not C.CONSUMED for n, c, t in claims)


def test_consume_many_of_nothing_and_of_malformed_only(state: SharedState) -> None:
    assert state.challenges.consume_many([]) == []
    assert state.challenges.consume_many([("", "bank-1", NOW), ("%" * 43, "bank-1", NOW)]) == [
        C.UNKNOWN,
        C.UNKNOWN,
    ]


def _hits() -> list[Hit]:
    later = NOW + SECOND  # the next 1 s "verify" window
    return [
        ("shop", "status", NOW),
        ("shop", "verify", NOW),
        ("shop", "status", NOW),
        ("bank", "status", NOW),
        ("shop", "status", NOW),  # the third in 10 s: refused
        ("shop", "verify", NOW),
        ("shop", "verify", NOW),
        ("shop", "verify", NOW),  # the fourth in 1 s: refused
        ("shop", "verify", later),
        ("shop", "default", NOW),
    ]


#: The decisions of :func:`_hits` (status: 2 per 10 s; verify: 3 per 1 s).
ALLOWED = (True, True, True, True, False, True, True, False, True, True)


def _hit_one_by_one(state: SharedState, hits: Sequence[Hit]) -> list[RateDecision]:
    return [state.limiter.hit(client, route, now) for client, route, now in hits]


def test_hit_many_decides_as_hit_one_by_one(state: SharedState, twin: SharedState) -> None:
    batched = state.limiter.hit_many(_hits())
    single = _hit_one_by_one(twin, _hits())
    assert batched == single
    assert tuple(d.allowed for d in batched) == ALLOWED
    assert not any(d.degraded for d in batched) and not state.limiter.degraded
    # the batch counted: a following single hit sees its counts
    assert state.limiter.hit("bank", "status", NOW).remaining == 0
    assert state.limiter.hit_many([]) == []


def _flush_scripts(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        client.script_flush()
    finally:
        client.close()


def test_a_redis_that_lost_its_scripts_still_answers_batches(redis_url: str, prefix: str) -> None:
    state = on_redis(redis_url, prefix, LIMITS)
    try:
        assert state.challenges.consume_many([(UNKNOWN_NONCE, "bank-1", NOW)]) == [C.UNKNOWN]
        assert state.limiter.hit_many([("shop", "status", NOW)])[0].allowed
        claims = _claims(state.challenges)
        _flush_scripts(redis_url)  # a restarted or failed-over server
        assert state.challenges.consume_many(claims) == EXPECTED
        _flush_scripts(redis_url)
        decisions = state.limiter.hit_many([("shop", "status", NOW), ("shop", "status", NOW)])
        assert [d.allowed for d in decisions] == [True, False]  # counted once each
        assert not any(d.degraded for d in decisions) and not state.limiter.degraded
    finally:
        state.close()


def _down_checks(state: SharedState, claims: Callable[[], list[Claim]]) -> None:
    with pytest.raises(SharedStateUnavailable):
        state.challenges.consume_many(claims())
    decisions = state.limiter.hit_many([("shop", "status", NOW)] * 3)
    assert [d.allowed for d in decisions] == [True, True, False]  # 2 per 10 s, per process
    assert all(d.degraded for d in decisions) and state.limiter.degraded
    # empty batches need no store
    assert state.limiter.hit_many([]) == []


def test_a_redis_that_is_down(private_redis: PrivateRedis) -> None:
    state = on_redis(private_redis.url, "permit-test:batches:", LIMITS)
    try:
        issued = state.challenges.issue("bank-1", NOW)
        assert not state.limiter.hit_many([("shop", "status", NOW)])[0].degraded
        private_redis.kill()  # the pooled connection is now broken
        _down_checks(state, lambda: [(issued.nonce, "bank-1", NOW + SECOND)])
        private_redis.start()  # back (empty): the batches use it again after the probe delay
        later = NOW + 5 * SECOND
        assert state.challenges.consume_many([(issued.nonce, "bank-1", later)]) == [C.UNKNOWN]
        decisions = state.limiter.hit_many([("shop", "status", later)])
        assert not decisions[0].degraded and not state.limiter.degraded
    finally:
        state.close()


def test_a_closed_port() -> None:
    state = on_redis(f"redis://127.0.0.1:{free_port()}/0", "permit-test:closed:", LIMITS)
    try:
        _down_checks(state, lambda: [(UNKNOWN_NONCE, "bank-1", NOW), ("", "bank-1", NOW)])
    finally:
        state.close()
