"""The Redis backend: challenges and rate limits shared by every worker and service process.

Each operation is one round trip of one Lua script (atomic on the server), and every
*decision* uses the ``now`` the caller passes: a challenge stores its expiry (epoch ms) and
the script compares it with ``now``; a rate window's key is derived from ``now``.  Redis's own
key TTLs (server time) only clean up: a challenge's key lives ``ttl`` plus
:data:`~.memory.RETAIN_AFTER_EXPIRY`, so after consumption its marker answers REPLAYED until
well past the original expiry; a rate window's key lives two windows.

Failures: challenges fail closed (:class:`~.model.SharedStateUnavailable`, never CONSUMED);
the limiter falls back to a per-process :class:`~.memory.MemoryRateLimiter`, reports
``degraded`` (``/readyz``), logs one warning when it degrades and one line when it recovers,
and probes Redis again at most every :data:`PROBE_EVERY` of ``now`` while degraded.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence
from typing import Any, cast

import redis
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError
from redis.retry import Retry

from keys.clock import require_utc
from permit_errors import withheld_traceback

from .memory import RETAIN_AFTER_EXPIRY, MemoryRateLimiter
from .model import (
    DEFAULT_RATE_LIMITS,
    Challenge,
    ChallengeOutcome,
    Claim,
    Hit,
    RateDecision,
    RateLimit,
    RateLimits,
    SharedStateUnavailable,
    bounded_ttl,
    epoch_ms,
    new_nonce,
    nonce_well_formed,
    window_decision,
)

__all__ = ["PROBE_EVERY", "RedisChallengeStore", "RedisRateLimiter", "connect"]

log = logging.getLogger(__name__)

#: While degraded, how often (of the passed ``now``) the limiter tries Redis again.
PROBE_EVERY = dt.timedelta(seconds=1)
#: Socket timeouts: a Redis that hangs must not hang a request for long (each script is O(1);
#: with the one retry, a hanging Redis costs a request about four times this).
SOCKET_TIMEOUT_S = 0.5

# KEYS[1] challenge key; ARGV client, expiry (epoch ms), key TTL (ms).  0 if the key exists.
_ISSUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'c', ARGV[1], 'e', ARGV[2], 's', 'issued')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS[1] challenge key; ARGV client, now (epoch ms).  The transcription of memory.decide.
_CONSUME = """
local v = redis.call('HMGET', KEYS[1], 'c', 'e', 's')
if not v[1] then return 'unknown' end
if v[3] == 'expired' then return 'expired' end
if v[3] ~= 'issued' then return 'replayed' end
if v[1] ~= ARGV[1] then
  redis.call('HSET', KEYS[1], 's', 'burned')
  return 'other_client'
end
if tonumber(ARGV[2]) >= tonumber(v[2]) then
  redis.call('HSET', KEYS[1], 's', 'expired')
  return 'expired'
end
redis.call('HSET', KEYS[1], 's', 'consumed')
return 'consumed'
"""

# KEYS[1] window key; ARGV key TTL (ms).  The window's count after this request.
_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""


def connect(url: str, *, timeout_s: float = SOCKET_TIMEOUT_S) -> redis.Redis:
    """A Redis client for ``url`` (``redis://``, ``rediss://``, ``unix://``) with short
    timeouts and one retry on a broken connection (a pooled connection after a restart).

    Connecting is lazy: an unreachable server is found on first use.  A retried consume
    whose first attempt did reach the server answers REPLAYED: the safe side."""
    client = redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )
    return client


def _unavailable(exc: RedisError) -> SharedStateUnavailable:
    # the class name only: a driver's text may carry the URL (and its password)
    log.debug("shared state: Redis failed:\n%s", withheld_traceback(exc))
    return SharedStateUnavailable(f"the shared store did not answer ({type(exc).__name__})")


class RedisChallengeStore:
    """:class:`~.model.ChallengeStore` on Redis, under ``prefix`` + ``challenge:``."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix + "challenge:"
        self._issue = client.register_script(_ISSUE)
        self._consume = client.register_script(_CONSUME)
        self._retain_ms = int(RETAIN_AFTER_EXPIRY.total_seconds() * 1000)

    def key(self, nonce: str) -> str:
        return self._prefix + nonce

    def issue(self, client_id: str, now: dt.datetime, ttl: dt.timedelta | None = None) -> Challenge:
        now = require_utc(now)
        lifetime = bounded_ttl(ttl)
        if not client_id:
            raise ValueError("a challenge is bound to a client: client_id is empty")
        expires = now + lifetime
        key_ttl_ms = int(lifetime.total_seconds() * 1000) + self._retain_ms
        for _ in range(3):  # a collision of 256 random bits: never, but never overwrite
            nonce = new_nonce()
            try:
                created = self._issue(
                    keys=[self.key(nonce)], args=[client_id, epoch_ms(expires), key_ttl_ms]
                )
            except RedisError as exc:
                raise _unavailable(exc) from None
            if int(cast(Any, created)) == 1:
                return Challenge(nonce, client_id, issued_at=now, expires_at=expires)
        raise SharedStateUnavailable("could not store a fresh challenge")

    def consume(self, nonce: str, client_id: str, now: dt.datetime) -> ChallengeOutcome:
        return self.consume_many([(nonce, client_id, now)])[0]

    def consume_many(self, claims: Sequence[Claim]) -> list[ChallengeOutcome]:
        """One pipeline of the consume script (``EVALSHA``; a server that lost its scripts
        answers ``NOSCRIPT`` without running any, and the pipeline is sent once more after
        loading it)."""
        outcomes: list[ChallengeOutcome | None] = [None] * len(claims)
        sent = [
            (i, self.key(nonce), client_id, epoch_ms(now))
            for i, (nonce, client_id, now) in enumerate(claims)
            if nonce_well_formed(nonce)
        ]
        for i, (nonce, _, _) in enumerate(claims):
            if not nonce_well_formed(nonce):
                outcomes[i] = ChallengeOutcome.UNKNOWN
        for attempt in range(2):
            try:
                pipe = self._client.pipeline(transaction=False)
                for _, key, client_id, now_ms in sent:
                    pipe.evalsha(self._consume.sha, 1, key, client_id, now_ms)
                answers = pipe.execute(raise_on_error=False)
            except RedisError as exc:
                raise _unavailable(exc) from None
            if attempt == 0 and any(isinstance(a, NoScriptError) for a in answers):
                if not all(isinstance(a, NoScriptError) for a in answers):
                    raise SharedStateUnavailable("the shared store gave an unexpected answer")
                try:  # none ran: load the script, send them all again
                    self._client.script_load(_CONSUME)
                except RedisError as exc:
                    raise _unavailable(exc) from None
                continue
            break
        for (i, *_), answer in zip(sent, answers, strict=True):
            if isinstance(answer, Exception):
                raise (
                    _unavailable(answer)
                    if isinstance(answer, RedisError)
                    else (SharedStateUnavailable("the shared store gave an unexpected answer"))
                )
            try:
                outcomes[i] = ChallengeOutcome(str(answer))
            except ValueError:  # not our script's answer: fail closed
                raise SharedStateUnavailable("the shared store gave an unexpected answer") from None
        return [o if o is not None else ChallengeOutcome.UNKNOWN for o in outcomes]

    def ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except RedisError:
            return False


class RedisRateLimiter:
    """:class:`~.model.RateLimiter` on Redis (fixed windows, under ``prefix`` + ``rate:``),
    falling back to this process's memory while Redis does not answer."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        limits: RateLimits | None = None,
        *,
        probe_every: dt.timedelta = PROBE_EVERY,
    ) -> None:
        self.limits = limits or DEFAULT_RATE_LIMITS
        self._client = client
        self._prefix = prefix + "rate:"
        self._hit = client.register_script(_HIT)
        self._fallback = MemoryRateLimiter(self.limits, degraded=True)
        self._lock = threading.Lock()
        self._degraded = False
        self._next_probe_ms = 0
        self._probe_ms = int(probe_every.total_seconds() * 1000)

    @property
    def degraded(self) -> bool:
        return self._degraded

    def key(self, client_id: str, route_class: str, now_ms: int) -> str:
        window_s = self.limits.for_class(route_class).window_s
        # client last: route class and numbers hold no ':' of a client id's making
        return f"{self._prefix}{route_class}:{window_s}:{now_ms // (window_s * 1000)}:{client_id}"

    def hit(self, client_id: str, route_class: str, now: dt.datetime) -> RateDecision:
        return self.hit_many([(client_id, route_class, now)])[0]

    def hit_many(self, hits: Sequence[Hit]) -> list[RateDecision]:
        """One pipeline of the count script; while Redis does not answer, this process's
        memory decides (as :meth:`hit`)."""
        if not hits:
            return []
        now_ms = max(epoch_ms(now) for _, _, now in hits)
        if self._degraded and now_ms < self._next_probe_ms:
            return self._fallback.hit_many(hits)
        counted: list[tuple[RateLimit, int]] = []
        for attempt in range(2):
            try:
                pipe = self._client.pipeline(transaction=False)
                counted = []
                for client_id, route_class, now in hits:
                    limit = self.limits.for_class(route_class)
                    at = epoch_ms(now)
                    key = self.key(client_id, route_class, at)
                    pipe.evalsha(self._hit.sha, 1, key, limit.window_s * 2000)
                    counted.append((limit, at))
                answers = pipe.execute(raise_on_error=False)
            except RedisError as exc:
                self._degrade(now_ms, exc)
                return self._fallback.hit_many(hits)
            if attempt == 0 and any(isinstance(a, NoScriptError) for a in answers):
                try:  # a server that lost its scripts ran none of them (NOSCRIPT): load, resend
                    self._client.script_load(_HIT)
                except RedisError as exc:
                    self._degrade(now_ms, exc)
                    return self._fallback.hit_many(hits)
                if all(isinstance(a, NoScriptError) for a in answers):
                    continue
            break
        failed = next((a for a in answers if isinstance(a, Exception)), None)
        if failed is not None:
            self._degrade(now_ms, failed if isinstance(failed, RedisError) else RedisError())
            return self._fallback.hit_many(hits)
        self._recover()
        return [
            window_decision(int(cast(Any, n)), limit, at)
            for n, (limit, at) in zip(answers, counted, strict=True)
        ]

    def _degrade(self, now_ms: int, exc: RedisError) -> None:
        with self._lock:
            self._next_probe_ms = now_ms + self._probe_ms
            if self._degraded:
                return
            self._degraded = True
        log.warning(
            "shared rate limits unavailable (Redis: %s): limiting per process until it answers",
            type(exc).__name__,
        )

    def _recover(self) -> None:
        if not self._degraded:
            return
        with self._lock:
            if not self._degraded:
                return
            self._degraded = False
        log.warning("shared rate limits restored: Redis answers again")
