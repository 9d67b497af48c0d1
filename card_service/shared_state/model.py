"""The shared state's vocabulary: challenges, their outcomes, rate limits and decisions.

Both backends (:mod:`.memory`, :mod:`.redis_backend`) implement the two protocols here,
:class:`ChallengeStore` and :class:`RateLimiter`, and are tested through one suite.  Time is
a parameter (``now``, a timezone-aware datetime); nothing here reads a clock.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

from keys.clock import require_utc
from permit_errors import ErrorKind, PermitError

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "DEFAULT_TTL",
    "MAX_TTL",
    "MIN_TTL",
    "NONCE_BYTES",
    "Challenge",
    "ChallengeOutcome",
    "ChallengeStore",
    "Claim",
    "Hit",
    "RateDecision",
    "RateLimit",
    "RateLimiter",
    "RateLimits",
    "SharedStateConfigError",
    "SharedStateUnavailable",
    "bounded_ttl",
    "epoch_ms",
    "new_nonce",
    "nonce_well_formed",
    "window_decision",
]

#: A challenge's random part: 32 bytes, 43 characters of unpadded base64url.
NONCE_BYTES = 32
DEFAULT_TTL = dt.timedelta(seconds=120)
MIN_TTL = dt.timedelta(seconds=1)
MAX_TTL = dt.timedelta(seconds=600)
_NONCE_RE = re.compile(r"[A-Za-z0-9_-]{43}")
_CLASS_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")


class SharedStateUnavailable(PermitError):
    """The shared store (Redis) did not answer: challenges fail closed (never CONSUMED)."""

    code = "shared_state_unavailable"
    kind = ErrorKind.UNAVAILABLE
    remedy = "check that Redis is running (PERMIT_REDIS_URL) and retry"


class SharedStateConfigError(PermitError):
    """A shared-state setting (URL, prefix, rate limits) is unacceptable."""

    code = "shared_state_config"
    kind = ErrorKind.CONFIG


def epoch_ms(now: dt.datetime) -> int:
    """``now`` as whole milliseconds since the epoch (UTC; a naive datetime is refused)."""
    return math.floor(require_utc(now).timestamp() * 1000)


def new_nonce() -> str:
    """32 fresh random bytes as unpadded base64url text."""
    return base64.urlsafe_b64encode(secrets.token_bytes(NONCE_BYTES)).rstrip(b"=").decode()


def nonce_well_formed(nonce: str) -> bool:
    """Whether ``nonce`` could be one of ours (43 base64url characters): anything else is
    UNKNOWN without a look-up, so no caller-chosen text ever becomes part of a store key."""
    return isinstance(nonce, str) and _NONCE_RE.fullmatch(nonce) is not None


def bounded_ttl(ttl: dt.timedelta | None) -> dt.timedelta:
    """``ttl`` (default :data:`DEFAULT_TTL`) if within [:data:`MIN_TTL`, :data:`MAX_TTL`]."""
    value = DEFAULT_TTL if ttl is None else ttl
    if not MIN_TTL <= value <= MAX_TTL:
        raise ValueError(f"a challenge's lifetime must be from {MIN_TTL} to {MAX_TTL}")
    return value


@dataclass(frozen=True)
class Challenge:
    """A single-use nonce issued to one client, valid while ``now < expires_at``."""

    nonce: str
    client_id: str
    issued_at: dt.datetime
    expires_at: dt.datetime

    @property
    def nonce_bytes(self) -> bytes:
        """The 32 random bytes the card signs (INTERNAL AUTHENTICATE)."""
        try:
            return base64.urlsafe_b64decode(self.nonce + "=")
        except (binascii.Error, ValueError):  # pragma: no cover - we built it
            raise ValueError("not a challenge nonce") from None

    @property
    def ttl_seconds(self) -> float:
        return (self.expires_at - self.issued_at).total_seconds()


class ChallengeOutcome(StrEnum):
    """What consuming a nonce found; only :attr:`CONSUMED` may lead to a VALID answer."""

    #: First presentation, by the client it was issued to, before it expired: now spent.
    CONSUMED = "consumed"
    #: Never issued (or forgotten after its expiry), or not well-formed.
    UNKNOWN = "unknown"
    #: Presented at or after ``expires_at`` (it stays unusable).
    EXPIRED = "expired"
    #: Presented before (consumed, or burned by another client's attempt).
    REPLAYED = "replayed"
    #: Issued to another client; the attempt burns it, so it never yields VALID for anyone.
    OTHER_CLIENT = "other_client"


#: What a presentation claims: its nonce, for this client, at this instant.
Claim = tuple[str, str, dt.datetime]


class ChallengeStore(Protocol):
    """Single-use challenges, shared by every worker and process on the same store."""

    def issue(self, client_id: str, now: dt.datetime, ttl: dt.timedelta | None = None) -> Challenge:
        """A fresh challenge for ``client_id``, expiring at ``now + ttl``."""
        ...

    def consume(self, nonce: str, client_id: str, now: dt.datetime) -> ChallengeOutcome:
        """Spend ``nonce`` atomically: at most one call ever answers CONSUMED.

        Raises :class:`SharedStateUnavailable` when the store does not answer."""
        ...

    def consume_many(self, claims: Sequence[Claim]) -> list[ChallengeOutcome]:
        """:meth:`consume` for each ``(nonce, client_id, now)`` of ``claims``, in order, in
        one round trip to the store (a batch of verifications).

        Raises :class:`SharedStateUnavailable` when the store does not answer: then any of
        the nonces may have been spent (fail closed: none is CONSUMED for its caller)."""
        ...

    def ping(self) -> bool:
        """Whether the store answers now (for readiness)."""
        ...


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` per fixed window of ``window_s`` seconds."""

    requests: int
    window_s: int

    def __post_init__(self) -> None:
        if not (1 <= self.requests <= 1_000_000 and 1 <= self.window_s <= 86_400):
            raise SharedStateConfigError(
                "a rate limit must be 1-1000000 requests per 1-86400 seconds"
            )


@dataclass(frozen=True)
class RateLimits:
    """The limit of each route class (``default`` for a class not named)."""

    default: RateLimit = RateLimit(600, 60)
    per_class: Mapping[str, RateLimit] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.per_class:
            if not _CLASS_RE.fullmatch(name):
                raise SharedStateConfigError(f"not a route class name: {name!r}")
        object.__setattr__(self, "per_class", MappingProxyType(dict(self.per_class)))

    def for_class(self, route_class: str) -> RateLimit:
        if not _CLASS_RE.fullmatch(route_class):
            raise ValueError(f"not a route class name: {route_class!r}")
        return self.per_class.get(route_class, self.default)

    @classmethod
    def parse(cls, text: str) -> RateLimits:
        """``default=600/60,status=30/60,challenges=120/60`` (requests/seconds per class);
        empty text is :data:`DEFAULT_RATE_LIMITS`."""
        if not text.strip():
            return DEFAULT_RATE_LIMITS
        items: dict[str, RateLimit] = dict(DEFAULT_RATE_LIMITS.per_class)
        default = DEFAULT_RATE_LIMITS.default
        for part in text.split(","):
            name, sep, value = part.strip().partition("=")
            requests, slash, window = value.strip().partition("/")
            name = name.strip().lower()
            if not (sep and slash and requests.strip().isdigit() and window.strip().isdigit()):
                raise SharedStateConfigError(
                    "PERMIT_RATE_LIMITS must be CLASS=REQUESTS/SECONDS[,...], e.g. status=30/60"
                )
            limit = RateLimit(int(requests), int(window))
            if name == "default":
                default = limit
            else:
                items[name] = limit
        return cls(default=default, per_class=items)


#: The status route is the strictest: permit numbers must not be enumerable through it.
DEFAULT_RATE_LIMITS = RateLimits(
    default=RateLimit(600, 60),
    per_class={"status": RateLimit(30, 60), "challenges": RateLimit(120, 60)},
)


@dataclass(frozen=True)
class RateDecision:
    """Whether a request may go ahead; ``retry_after_s`` (whole seconds, for the HTTP
    ``Retry-After``) is 0 when allowed; ``degraded``: decided per process (Redis down)."""

    allowed: bool
    retry_after_s: int
    remaining: int
    limit: int
    degraded: bool = False


def window_decision(
    count: int, limit: RateLimit, now_ms: int, *, degraded: bool = False
) -> RateDecision:
    """The decision for the ``count``-th request of the fixed window holding ``now_ms``."""
    window_ms = limit.window_s * 1000
    allowed = count <= limit.requests
    retry = 0
    if not allowed:
        end_ms = (now_ms // window_ms + 1) * window_ms
        retry = max(1, math.ceil((end_ms - now_ms) / 1000))
    return RateDecision(
        allowed=allowed,
        retry_after_s=retry,
        remaining=max(0, limit.requests - count),
        limit=limit.requests,
        degraded=degraded,
    )


#: One request to count: its client, its route class, its instant.
Hit = tuple[str, str, dt.datetime]


class RateLimiter(Protocol):
    """Per-client, per-route-class request counting, shared across processes (Redis)."""

    @property
    def degraded(self) -> bool:
        """Whether decisions are currently per process only (the shared store is down)."""
        ...

    def hit(self, client_id: str, route_class: str, now: dt.datetime) -> RateDecision:
        """Count one request of ``client_id`` on ``route_class`` at ``now`` and decide."""
        ...

    def hit_many(self, hits: Sequence[Hit]) -> list[RateDecision]:
        """:meth:`hit` for each ``(client_id, route_class, now)`` of ``hits``, in order, in
        one round trip to the store (a batch of requests)."""
        ...
