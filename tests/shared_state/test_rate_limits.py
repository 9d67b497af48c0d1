"""Rate limits, the same suite on both backends: per client and route class, fixed windows
decided on the passed ``now``, ``Retry-After`` to the window's end; and across processes."""

from __future__ import annotations

import datetime as dt

import pytest

from card_service.shared_state import (
    DEFAULT_RATE_LIMITS,
    RateLimit,
    RateLimits,
    SharedState,
    SharedStateConfigError,
    on_redis,
)
from tests.shared_state.conftest import LIMITS

# 10 s into a 60 s window (and a 10 s one): window boundaries are multiples of the window
NOW = dt.datetime(2026, 12, 2, 9, 0, 10, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)


def test_the_limit_per_window_then_retry_after(state: SharedState) -> None:
    hit = state.limiter.hit
    decisions = [hit("bank-1", "verify_x", NOW) for _ in range(5)]  # default: 5 per 60 s
    assert [d.allowed for d in decisions] == [True] * 5
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0]
    assert all(d.retry_after_s == 0 and d.limit == 5 and not d.degraded for d in decisions)
    refused = hit("bank-1", "verify_x", NOW + 5 * SECOND)
    assert not refused.allowed and refused.remaining == 0
    assert refused.retry_after_s == 45  # the window ends at 09:01:00
    late = hit("bank-1", "verify_x", NOW + 49 * SECOND + dt.timedelta(milliseconds=500))
    assert not late.allowed and late.retry_after_s == 1  # rounded up, never 0
    assert hit("bank-1", "verify_x", NOW + 50 * SECOND).allowed  # a new window


def test_clients_and_route_classes_are_counted_apart(state: SharedState) -> None:
    hit = state.limiter.hit
    assert [hit("shop", "status", NOW).allowed for _ in range(3)] == [True, True, False]
    refused = hit("shop", "status", NOW)
    assert refused.retry_after_s == 10 and refused.limit == 2  # 2 per 10 s, window 09:00:10-20
    assert hit("bank", "status", NOW).allowed  # another client
    assert hit("shop", "other", NOW).allowed  # another class (the default limit)
    assert hit("shop", "status", NOW + 10 * SECOND).allowed


def test_route_class_names_are_checked(state: SharedState) -> None:
    for bad in ("", "Status", "a:b", "x" * 40, "*"):
        with pytest.raises(ValueError, match="route class"):
            state.limiter.hit("c", bad, NOW)


def test_limits_parse_and_the_status_route_is_the_strictest() -> None:
    assert RateLimits.parse("") is DEFAULT_RATE_LIMITS
    status = DEFAULT_RATE_LIMITS.for_class("status")
    assert status.requests < DEFAULT_RATE_LIMITS.for_class("verifications").requests
    parsed = RateLimits.parse(" default=100/10 , STATUS=5/60,verify=7/1")
    assert parsed.default == RateLimit(100, 10)
    assert parsed.for_class("status") == RateLimit(5, 60)
    assert parsed.for_class("verify") == RateLimit(7, 1)
    assert parsed.for_class("challenges") == DEFAULT_RATE_LIMITS.for_class("challenges")
    for bad in ("status", "status=5", "status=a/1", "status=0/60", "status=5/0", "a:b=1/1"):
        with pytest.raises(SharedStateConfigError):
            RateLimits.parse(bad)


def test_the_limit_holds_across_client_instances(redis_url: str, prefix: str) -> None:
    one, two = on_redis(redis_url, prefix, LIMITS), on_redis(redis_url, prefix, LIMITS)
    try:
        assert one.limiter.hit("shop", "status", NOW).allowed
        assert two.limiter.hit("shop", "status", NOW).allowed
        assert not one.limiter.hit("shop", "status", NOW).allowed
        assert not two.limiter.hit("shop", "status", NOW).allowed
    finally:
        one.close()
        two.close()
