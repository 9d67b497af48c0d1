"""The one check that an instant is timezone-aware, used by every layer above the transport.

Time is always a parameter (``now``, ``at``) and always timezone-aware: a naive datetime is a
caller's bug (local time or UTC? nobody can tell), so it is refused, never guessed.  The check
lives in the key library because ``keys/`` is the lowest library the domain uses and imports
nothing from it; the domain (``card_service``) imports it from here.
"""

from __future__ import annotations

import datetime as dt

from permit_errors import ErrorKind, PermitError

__all__ = ["NaiveDateTime", "require_utc", "utc_seconds"]


class NaiveDateTime(PermitError, ValueError):
    """A datetime without a time zone was given where an instant is required."""

    code = "naive_datetime"
    kind = ErrorKind.INVALID


def require_utc(value: dt.datetime, name: str = "now") -> dt.datetime:
    """``value`` converted to UTC; :class:`NaiveDateTime` (a ``ValueError``) if it has no
    time zone.  ``name`` names the parameter in the message."""
    if not isinstance(value, dt.datetime):
        raise NaiveDateTime(f"{name} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDateTime(f"{name} must be timezone-aware (UTC)")
    return value.astimezone(dt.UTC)


def utc_seconds(value: dt.datetime, name: str = "now") -> dt.datetime:
    """:func:`require_utc` truncated to whole seconds: the key life cycle's instants, which
    go into certificates and CRLs (X.509 times have no fractions) and the registry alike."""
    return require_utc(value, name).replace(microsecond=0)
