"""The in-memory backend: the embedded default (one process), and the limiter's fallback.

Thread-safe (one lock each); forgets by the passed ``now``: a challenge's entry, consumed or
not, is kept until :data:`RETAIN_AFTER_EXPIRY` past its expiry (so a replay reads REPLAYED or
EXPIRED, not UNKNOWN), and a rate window's counter until its window has passed.  Memory is
bounded by the traffic of one retention period.  Across processes nothing is shared: a
deployment with several workers or instances sets ``PERMIT_REDIS_URL``.
"""

from __future__ import annotations

import datetime as dt
import heapq
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from keys.clock import require_utc

from .model import (
    DEFAULT_RATE_LIMITS,
    Challenge,
    ChallengeOutcome,
    Claim,
    Hit,
    RateDecision,
    RateLimits,
    bounded_ttl,
    epoch_ms,
    new_nonce,
    nonce_well_formed,
    window_decision,
)

__all__ = ["RETAIN_AFTER_EXPIRY", "MemoryChallengeStore", "MemoryRateLimiter"]

#: How long an entry outlives its expiry (also the Redis key's grace, :mod:`.redis_backend`).
RETAIN_AFTER_EXPIRY = dt.timedelta(seconds=60)


@dataclass
class _Entry:
    client_id: str
    expires_ms: int
    #: ``issued``, ``consumed``, ``burned`` (shown to another client) or ``expired``.
    state: str = "issued"


def decide(entry: _Entry | None, client_id: str, now_ms: int) -> tuple[ChallengeOutcome, str]:
    """The outcome of presenting a challenge in ``entry`` and the entry's next state.

    The one decision both backends make (the Redis Lua script is its transcription; the
    shared suite checks they agree).  Order matters: a spent nonce is REPLAYED whoever shows
    it; another client's attempt burns it (checked before expiry, so a nonce that leaked is
    dead for everyone); only then does the expiry count.
    """
    if entry is None:
        return ChallengeOutcome.UNKNOWN, ""
    if entry.state == "expired":
        return ChallengeOutcome.EXPIRED, "expired"
    if entry.state != "issued":
        return ChallengeOutcome.REPLAYED, entry.state
    if entry.client_id != client_id:
        return ChallengeOutcome.OTHER_CLIENT, "burned"
    if now_ms >= entry.expires_ms:
        return ChallengeOutcome.EXPIRED, "expired"
    return ChallengeOutcome.CONSUMED, "consumed"


class MemoryChallengeStore:
    """:class:`~.model.ChallengeStore` in this process's memory."""

    def __init__(self, *, retain: dt.timedelta = RETAIN_AFTER_EXPIRY) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        #: (forget at, nonce): the entries in the order they may be forgotten.
        self._forget: list[tuple[int, str]] = []
        self._retain_ms = int(retain.total_seconds() * 1000)

    def issue(self, client_id: str, now: dt.datetime, ttl: dt.timedelta | None = None) -> Challenge:
        now = require_utc(now)
        lifetime = bounded_ttl(ttl)
        if not client_id:
            raise ValueError("a challenge is bound to a client: client_id is empty")
        expires = now + lifetime
        expires_ms = epoch_ms(expires)
        nonce = new_nonce()
        with self._lock:
            self._sweep(epoch_ms(now))
            self._entries[nonce] = _Entry(client_id, expires_ms)
            heapq.heappush(self._forget, (expires_ms + self._retain_ms, nonce))
        return Challenge(nonce=nonce, client_id=client_id, issued_at=now, expires_at=expires)

    def consume(self, nonce: str, client_id: str, now: dt.datetime) -> ChallengeOutcome:
        now_ms = epoch_ms(now)
        if not nonce_well_formed(nonce):
            return ChallengeOutcome.UNKNOWN
        with self._lock:
            self._sweep(now_ms)
            entry = self._entries.get(nonce)
            outcome, state = decide(entry, client_id, now_ms)
            if entry is not None:
                entry.state = state
        return outcome

    def consume_many(self, claims: Sequence[Claim]) -> list[ChallengeOutcome]:
        return [self.consume(nonce, client_id, now) for nonce, client_id, now in claims]

    def ping(self) -> bool:
        return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _sweep(self, now_ms: int) -> None:
        while self._forget and self._forget[0][0] <= now_ms:
            _, nonce = heapq.heappop(self._forget)
            self._entries.pop(nonce, None)


class MemoryRateLimiter:
    """:class:`~.model.RateLimiter` in this process's memory (fixed windows)."""

    def __init__(self, limits: RateLimits | None = None, *, degraded: bool = False) -> None:
        self.limits = limits or DEFAULT_RATE_LIMITS
        self._lock = threading.Lock()
        #: (route class, client, window index) -> count
        self._counts: dict[tuple[str, str, int], int] = {}
        self._forget: list[tuple[int, tuple[str, str, int]]] = []
        self._degraded = degraded

    @property
    def degraded(self) -> bool:
        return self._degraded

    def hit(self, client_id: str, route_class: str, now: dt.datetime) -> RateDecision:
        limit = self.limits.for_class(route_class)
        now_ms = epoch_ms(now)
        window_ms = limit.window_s * 1000
        window = now_ms // window_ms
        key = (route_class, client_id, window)
        with self._lock:
            while self._forget and self._forget[0][0] <= now_ms:
                self._counts.pop(heapq.heappop(self._forget)[1], None)
            count = self._counts.get(key, 0) + 1
            if count == 1:
                heapq.heappush(self._forget, ((window + 1) * window_ms, key))
            self._counts[key] = count
        return window_decision(count, limit, now_ms, degraded=self._degraded)

    def hit_many(self, hits: Sequence[Hit]) -> list[RateDecision]:
        return [self.hit(client_id, route_class, now) for client_id, route_class, now in hits]
