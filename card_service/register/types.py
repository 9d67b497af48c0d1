"""Column types shared by the register and the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# The one timezone check (keys/clock.py), re-exported: the audit package imports it from here.
from keys.clock import NaiveDateTime, require_utc

__all__ = ["NaiveDateTime", "UtcDateTime", "require_utc"]


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A tz-aware UTC instant on both databases.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value is stored as
    naive UTC text and made aware again when read.  Naive values are refused on write
    (:class:`NaiveDateTime`, a ``ValueError``).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        utc = require_utc(value, "a stored instant")
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
