"""Single-use challenges, the same suite on both backends: once, by its client, in time."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
import redis

from card_service.shared_state import (
    DEFAULT_TTL,
    MAX_TTL,
    ChallengeOutcome,
    MemoryChallengeStore,
    SharedState,
    on_redis,
)
from card_service.shared_state.memory import RETAIN_AFTER_EXPIRY

NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)
MS = dt.timedelta(milliseconds=1)


def test_a_challenge_is_32_random_bytes_bound_to_its_client(state: SharedState) -> None:
    one = state.challenges.issue("bank-1", NOW)
    two = state.challenges.issue("bank-1", NOW)
    assert one.nonce != two.nonce and len(one.nonce) == 43
    assert base64.urlsafe_b64decode(one.nonce + "=") == one.nonce_bytes
    assert len(one.nonce_bytes) == 32
    assert one.client_id == "bank-1" and one.issued_at == NOW
    assert one.expires_at == NOW + DEFAULT_TTL and one.ttl_seconds == 120


def test_consumed_exactly_once(state: SharedState) -> None:
    challenge = state.challenges.issue("bank-1", NOW)
    consume = state.challenges.consume
    assert consume(challenge.nonce, "bank-1", NOW + SECOND) is ChallengeOutcome.CONSUMED
    assert consume(challenge.nonce, "bank-1", NOW + SECOND) is ChallengeOutcome.REPLAYED
    # the consumed marker lasts until (and past) the original expiry: still a replay
    later = challenge.expires_at + RETAIN_AFTER_EXPIRY / 2
    assert consume(challenge.nonce, "bank-1", later) is ChallengeOutcome.REPLAYED


def test_expiry_at_the_boundary_is_decided_by_the_passed_now(state: SharedState) -> None:
    ttl = dt.timedelta(seconds=30)
    last = state.challenges.issue("bank-1", NOW, ttl)
    at = state.challenges.issue("bank-1", NOW, ttl)
    consume = state.challenges.consume
    assert consume(at.nonce, "bank-1", NOW + ttl) is ChallengeOutcome.EXPIRED
    assert consume(last.nonce, "bank-1", NOW + ttl - MS) is ChallengeOutcome.CONSUMED
    # once found expired it stays unusable, even for a clock that goes back
    assert consume(at.nonce, "bank-1", NOW) is ChallengeOutcome.EXPIRED


def test_another_clients_nonce_is_burned_for_everyone(state: SharedState) -> None:
    challenge = state.challenges.issue("bank-1", NOW)
    consume = state.challenges.consume
    assert consume(challenge.nonce, "shop-2", NOW) is ChallengeOutcome.OTHER_CLIENT
    # the rightful client can no longer use it: it was shown elsewhere
    assert consume(challenge.nonce, "bank-1", NOW) is ChallengeOutcome.REPLAYED
    assert consume(challenge.nonce, "shop-2", NOW) is ChallengeOutcome.REPLAYED


def test_another_clients_expired_nonce_is_other_client(state: SharedState) -> None:
    challenge = state.challenges.issue("bank-1", NOW)
    late = challenge.expires_at + SECOND
    consume = state.challenges.consume
    assert consume(challenge.nonce, "shop-2", late) is ChallengeOutcome.OTHER_CLIENT
    assert consume(challenge.nonce, "bank-1", NOW) is ChallengeOutcome.REPLAYED


@pytest.mark.parametrize(
    "nonce",
    [
        "A" * 43,  # well-formed, never issued
        "",
        "short",
        "A" * 44,
        "*" * 43,  # a glob: never reaches a key
        "A" * 42 + ":",
        "A" * 42 + "\n",
    ],
)
def test_unknown_and_malformed_nonces_are_unknown(state: SharedState, nonce: str) -> None:
    assert state.challenges.consume(nonce, "bank-1", NOW) is ChallengeOutcome.UNKNOWN


def test_lifetime_is_bounded_and_now_must_be_aware(state: SharedState) -> None:
    assert state.challenges.issue("c", NOW, MAX_TTL).expires_at == NOW + MAX_TTL
    for bad in (MAX_TTL + SECOND, dt.timedelta(0), -SECOND):
        with pytest.raises(ValueError, match="lifetime"):
            state.challenges.issue("c", NOW, bad)
    with pytest.raises(ValueError, match="timezone"):
        state.challenges.issue("c", NOW.replace(tzinfo=None))
    challenge = state.challenges.issue("c", NOW)
    with pytest.raises(ValueError, match="timezone"):
        state.challenges.consume(challenge.nonce, "c", NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="client"):
        state.challenges.issue("", NOW)
    assert state.challenges.consume(challenge.nonce, "c", NOW) is ChallengeOutcome.CONSUMED


def test_memory_forgets_after_the_retention() -> None:
    """Redis forgets by its own key TTL instead (the test below)."""
    store = MemoryChallengeStore()
    challenge = store.issue("c", NOW)
    store.consume(challenge.nonce, "c", NOW)
    gone = challenge.expires_at + RETAIN_AFTER_EXPIRY
    store.issue("c", gone)  # sweeps
    assert len(store) == 1
    assert store.consume(challenge.nonce, "c", gone) is ChallengeOutcome.UNKNOWN


def test_redis_keys_carry_a_ttl_and_a_nonce_consumed_by_one_client_instance_is_spent_for_all(
    redis_url: str, prefix: str
) -> None:
    one = on_redis(redis_url, prefix)
    other = on_redis(redis_url, prefix)  # another worker: its own connection pool
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        ttl = dt.timedelta(seconds=30)
        challenge = one.challenges.issue("bank-1", NOW, ttl)
        key = f"{prefix}challenge:{challenge.nonce}"
        remaining_ms = raw.pttl(key)
        assert 0 < remaining_ms <= (ttl + RETAIN_AFTER_EXPIRY) / MS
        assert raw.hget(key, "c") == "bank-1"
        assert other.challenges.consume(challenge.nonce, "bank-1", NOW) is ChallengeOutcome.CONSUMED
        assert one.challenges.consume(challenge.nonce, "bank-1", NOW) is ChallengeOutcome.REPLAYED
        assert 0 < raw.pttl(key) <= remaining_ms  # consuming keeps the cleanup TTL
        assert other.health()["ready"] is True and other.health()["backend"] == "redis"
    finally:
        one.close()
        other.close()
        raw.close()


def test_a_foreign_prefix_does_not_see_our_nonces(redis_url: str, prefix: str) -> None:
    ours = on_redis(redis_url, prefix)
    theirs = on_redis(redis_url, prefix + "other:")
    try:
        challenge = ours.challenges.issue("bank-1", NOW)
        assert theirs.challenges.consume(challenge.nonce, "bank-1", NOW) is ChallengeOutcome.UNKNOWN
        assert ours.challenges.consume(challenge.nonce, "bank-1", NOW) is ChallengeOutcome.CONSUMED
    finally:
        ours.close()
        theirs.close()
