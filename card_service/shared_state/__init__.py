"""The service's shared state: single-use challenges (nonces) and per-client rate limits.

Two backends behind the same protocols (:class:`ChallengeStore`, :class:`RateLimiter`):
in memory (the embedded default, one process) and Redis (every worker and service process
sharing one store, so a nonce consumed by one worker is consumed for all).  The rules
(docs/shared-state.md):

* a challenge is consumed at most once, by the client it was issued to, before its expiry;
  anything else (unknown, expired, replayed, another client's: which burns it) never leads
  to VALID;
* challenges fail closed: a store that does not answer raises
  :class:`SharedStateUnavailable` (kind UNAVAILABLE), never CONSUMED;
* rate limits degrade: without Redis they are counted per process and say so
  (``degraded``, :meth:`SharedState.health`).

:func:`open_shared_state` picks the backend from the office's settings.
"""

from __future__ import annotations

from .factory import (
    DEFAULT_PREFIX,
    SharedState,
    SharedStateSettings,
    in_memory,
    on_redis,
    open_shared_state,
)
from .memory import MemoryChallengeStore, MemoryRateLimiter
from .model import (
    DEFAULT_RATE_LIMITS,
    DEFAULT_TTL,
    MAX_TTL,
    MIN_TTL,
    Challenge,
    ChallengeOutcome,
    ChallengeStore,
    Claim,
    RateDecision,
    RateLimit,
    RateLimiter,
    RateLimits,
    SharedStateConfigError,
    SharedStateUnavailable,
)

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_RATE_LIMITS",
    "DEFAULT_TTL",
    "MAX_TTL",
    "MIN_TTL",
    "Challenge",
    "ChallengeOutcome",
    "ChallengeStore",
    "Claim",
    "MemoryChallengeStore",
    "MemoryRateLimiter",
    "RateDecision",
    "RateLimit",
    "RateLimiter",
    "RateLimits",
    "SharedState",
    "SharedStateConfigError",
    "SharedStateSettings",
    "SharedStateUnavailable",
    "in_memory",
    "on_redis",
    "open_shared_state",
]
