"""``open_shared_state(settings)``: the backend the settings name, as one :class:`SharedState`.

No ``PERMIT_REDIS_URL``: in memory (one process: the embedded default, ``permit serve`` with
one worker).  A URL: Redis, shared by every worker and service process using the same URL and
key prefix.  Nothing connects here: an unreachable Redis is found on first use (challenges
then fail closed, the limiter degrades) and reported by :meth:`SharedState.health`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from .memory import MemoryChallengeStore, MemoryRateLimiter
from .model import ChallengeStore, RateLimiter, RateLimits, SharedStateConfigError

__all__ = [
    "DEFAULT_PREFIX",
    "SharedState",
    "SharedStateSettings",
    "check_prefix",
    "check_url",
    "open_shared_state",
]

DEFAULT_PREFIX = "permit:"
_PREFIX_RE = re.compile(r"[A-Za-z0-9_.:{}-]{1,64}")
_SCHEMES = ("redis://", "rediss://", "unix://")


class SharedStateSettings(Protocol):
    """What the factory reads (:class:`card_service.office.Settings` has it)."""

    @property
    def shared_state_url(self) -> str | None: ...

    @property
    def shared_state_prefix(self) -> str: ...

    def rate_limits(self) -> RateLimits: ...


def check_url(url: str) -> str:
    if not url.startswith(_SCHEMES):
        # never echo the URL: it may carry a password
        raise SharedStateConfigError(
            "PERMIT_REDIS_URL must be a redis://, rediss:// or unix:// URL"
        )
    return url


def check_prefix(prefix: str) -> str:
    if not _PREFIX_RE.fullmatch(prefix):
        raise SharedStateConfigError(
            "PERMIT_REDIS_PREFIX must be 1-64 characters of letters, digits and _.:{}-"
        )
    return prefix


@dataclass
class SharedState:
    """The challenges and the rate limiter of one process, on one backend."""

    backend: str
    challenges: ChallengeStore
    limiter: RateLimiter
    _close: list[object] = field(default_factory=list, repr=False)

    def health(self) -> dict[str, object]:
        """For ``/readyz``: ``ready`` is whether challenges can be issued and consumed;
        ``degraded``: rate limits are per process only - the limiter has fallen back, or the
        store does not answer (so its next decision will be this process's).  No URL, no
        key."""
        challenges_ok = self.challenges.ping()
        degraded = self.limiter.degraded or not challenges_ok
        return {
            "backend": self.backend,
            "ready": challenges_ok,
            "challenges": "ok" if challenges_ok else "unavailable",
            "rate_limits": "degraded" if degraded else "ok",
            "degraded": degraded,
        }

    def close(self) -> None:
        """Release the backend's connections (idempotent)."""
        for resource in self._close:
            close = getattr(resource, "close", None)
            if callable(close):
                close()
        self._close.clear()


def in_memory(limits: RateLimits | None = None) -> SharedState:
    """The embedded default: this process's memory."""
    return SharedState("memory", MemoryChallengeStore(), MemoryRateLimiter(limits))


def on_redis(
    url: str,
    prefix: str = DEFAULT_PREFIX,
    limits: RateLimits | None = None,
    *,
    timeout_s: float | None = None,
) -> SharedState:
    """Redis at ``url``, keys under ``prefix`` (checked; nothing connects yet);
    ``timeout_s``: the socket timeouts (default :data:`~.redis_backend.SOCKET_TIMEOUT_S`)."""
    from .redis_backend import SOCKET_TIMEOUT_S, RedisChallengeStore, RedisRateLimiter, connect

    client = connect(check_url(url), timeout_s=SOCKET_TIMEOUT_S if timeout_s is None else timeout_s)
    prefix = check_prefix(prefix)
    return SharedState(
        "redis",
        RedisChallengeStore(client, prefix),
        RedisRateLimiter(client, prefix, limits),
        [client],
    )


def open_shared_state(settings: SharedStateSettings) -> SharedState:
    """The shared state ``settings`` name (``PERMIT_REDIS_URL``, ``PERMIT_REDIS_PREFIX``,
    ``PERMIT_RATE_LIMITS``); a bad value is a :class:`SharedStateConfigError`."""
    limits = settings.rate_limits()
    if not settings.shared_state_url:
        return in_memory(limits)
    return on_redis(settings.shared_state_url, settings.shared_state_prefix, limits)
