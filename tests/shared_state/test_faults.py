"""Redis unavailable: challenges fail closed (no CONSUMED, UNAVAILABLE raised, nothing
issued), the limiter degrades to per process and says so, one warning per transition; and
recovers.  Faults: a closed port, a private redis-server killed in the middle, a server that
accepts connections and never answers."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import time
from collections.abc import Iterator

import pytest

from card_service.shared_state import (
    ChallengeOutcome,
    SharedStateUnavailable,
    on_redis,
)
from card_service.shared_state.redis_backend import SOCKET_TIMEOUT_S
from permit_errors import ErrorKind, PermitError
from tests.shared_state.conftest import LIMITS, PrivateRedis, free_port

NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)
LOGGER = "card_service.shared_state.redis_backend"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= 30]


def test_a_closed_port_fails_closed_and_degrades(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    url = f"redis://:s3cret-pass@127.0.0.1:{free_port()}/0"
    state = on_redis(url, "permit-test:closed:", LIMITS)
    try:
        with pytest.raises(SharedStateUnavailable) as info:
            state.challenges.issue("bank-1", NOW)
        assert isinstance(info.value, PermitError) and info.value.kind is ErrorKind.UNAVAILABLE
        assert info.value.code == "shared_state_unavailable"
        with pytest.raises(SharedStateUnavailable):
            state.challenges.consume("A" * 43, "bank-1", NOW)
        decisions = [state.limiter.hit("shop", "status", NOW + i * SECOND / 10) for i in range(3)]
        assert [d.allowed for d in decisions] == [True, True, False]  # 2 per 10 s, per process
        assert all(d.degraded for d in decisions) and state.limiter.degraded
        # probing again each PROBE_EVERY of now, still one warning for the whole outage
        state.limiter.hit("shop", "status", NOW + 5 * SECOND)
        assert len(_warnings(caplog)) == 1 and "per process" in _warnings(caplog)[0]
        health = state.health()
        assert health == {
            "backend": "redis",
            "ready": False,
            "challenges": "unavailable",
            "rate_limits": "degraded",
            "degraded": True,
        }
        assert "s3cret" not in caplog.text and "s3cret" not in str(info.value)
    finally:
        state.close()


def test_redis_killed_mid_way_then_back(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    state = on_redis(private_redis.url, "permit-test:private:", LIMITS)
    try:
        issued = state.challenges.issue("bank-1", NOW)
        pending = state.challenges.issue("bank-1", NOW)
        assert state.challenges.consume(issued.nonce, "bank-1", NOW) is ChallengeOutcome.CONSUMED
        assert state.limiter.hit("shop", "status", NOW).allowed
        assert state.health()["ready"] is True

        private_redis.kill()  # the pooled connection is now broken
        with pytest.raises(SharedStateUnavailable):
            state.challenges.consume(pending.nonce, "bank-1", NOW)
        with pytest.raises(SharedStateUnavailable):
            state.challenges.issue("bank-1", NOW)
        during = state.limiter.hit("shop", "status", NOW + SECOND)
        assert during.allowed and during.degraded  # the per-process count starts afresh
        assert state.health()["ready"] is False and state.health()["degraded"] is True

        private_redis.start()  # same port, empty (no persistence)
        # while degraded, Redis is asked again only after PROBE_EVERY of now
        assert state.limiter.hit("shop", "status", NOW + SECOND).degraded
        back = state.limiter.hit("shop", "status", NOW + 3 * SECOND)
        assert not back.degraded and not state.limiter.degraded and back.allowed
        assert state.health() == {
            "backend": "redis",
            "ready": True,
            "challenges": "ok",
            "rate_limits": "ok",
            "degraded": False,
        }
        # the restarted store lost the pending nonce: still never CONSUMED
        assert state.challenges.consume(pending.nonce, "bank-1", NOW) is ChallengeOutcome.UNKNOWN
        fresh = state.challenges.issue("bank-1", NOW)
        assert state.challenges.consume(fresh.nonce, "bank-1", NOW) is ChallengeOutcome.CONSUMED
        messages = _warnings(caplog)
        assert len(messages) == 2, messages  # one per transition
        assert "per process" in messages[0] and "restored" in messages[1]
    finally:
        state.close()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


def test_a_redis_that_hangs_fails_closed_within_the_timeouts(silent_server: int) -> None:
    url = f"redis://127.0.0.1:{silent_server}/0"
    timeout = SOCKET_TIMEOUT_S / 5
    state = on_redis(url, "permit-test:silent:", LIMITS, timeout_s=timeout)
    try:
        started = time.monotonic()
        with pytest.raises(SharedStateUnavailable):
            state.challenges.consume("A" * 43, "bank-1", NOW)
        # one attempt and one retry, each bounded by the socket timeout (handshake, command)
        assert time.monotonic() - started < 4 * timeout + 0.5
        decision = state.limiter.hit("shop", "status", NOW)
        assert decision.allowed and decision.degraded
        started = time.monotonic()
        assert state.limiter.hit("shop", "status", NOW).degraded  # no new probe: no wait
        assert time.monotonic() - started < 0.5
    finally:
        state.close()
