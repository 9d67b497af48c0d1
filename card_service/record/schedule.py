"""Calendar rules: local dates, anniversaries and the annual endorsement (签注) schedule.

All date logic of the record lives here, with ``now`` always a parameter.

**Local date.**  Permit dates (issue, expiry, residence began, endorsement periods) are
calendar dates in China Standard Time, UTC+8 all year (no daylight saving).  A verifier's
``now`` (tz-aware, any zone) is turned into the local date with :func:`local_date`.

**Anniversaries.**  ``add_years(d, n)`` is the same month and day ``n`` years later; 29 February
becomes 28 February in a common year (the last day of that month).  ``minus_one_month(d)`` is
the same day one month earlier, clipped to the end of a shorter month (31 March -> 28/29
February).

**The endorsement rule** (Interim Regulations on Residence Permits, 2016, cited as Article 10
in the issue): a holder who keeps residing must have the permit endorsed within the month
before each full year of residence; when that is overdue the permit is suspended until it is
endorsed, and the years of residence then count again from the day of the late endorsement.

We model it with *coverage*: a date is covered if the permit may be used on it.

* At issuance the permit covers ``issue_date`` .. ``first_endorsement_due`` inclusive, where
  ``first_endorsement_due`` is the first anniversary of ``residence_began`` after the issue date
  (it is signed in the record, so a verifier that sees only a presentation still knows it).
* Each endorsement covers ``period_start`` .. ``period_end`` inclusive with ``period_end =
  add_years(period_start, 1)``; the next one is due on ``period_end``.
* On time (endorsed in ``[due - 1 month, due]``): ``period_start = due``.
* Late (endorsed after ``due``): ``period_start`` = the day of endorsement; the dates between
  ``due`` (exclusive) and that day are not covered: the permit was suspended.
* An endorsement before ``due - 1 month`` is refused (:class:`EndorsementNotDue`).

A permit is SUSPENDED on a local date after its last covered date.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from keys.clock import require_utc
from permit_errors import ErrorKind, PermitError

__all__ = [
    "CST",
    "EndorsementNotDue",
    "EndorsementPeriod",
    "EndorsementStatus",
    "add_years",
    "endorsement_status",
    "first_endorsement_due",
    "full_years",
    "local_date",
    "minus_one_month",
    "next_endorsement_period",
    "period_is_consistent",
]

#: China Standard Time (no daylight saving since 1991).
CST = dt.timezone(dt.timedelta(hours=8), "CST")


class EndorsementNotDue(PermitError, ValueError):
    """An endorsement was requested before its window opened (or after expiry)."""

    code = "endorsement_not_due"
    kind = ErrorKind.REFUSED


def local_date(now: dt.datetime) -> dt.date:
    """The calendar date in China at the instant ``now`` (which must be tz-aware)."""
    return require_utc(now).astimezone(CST).date()


def local_midnight(day: dt.date) -> dt.datetime:
    """The UTC instant at which the local date ``day`` begins."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=CST).astimezone(dt.UTC)


_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _month_days(year: int, month: int) -> int:
    if month == 2 and calendar.isleap(year):
        return 29
    return _MONTH_DAYS[month]


def add_years(day: dt.date, years: int) -> dt.date:
    """Same month and day ``years`` later (29 February -> 28 February in a common year)."""
    year = day.year + years
    if day.month == 2 and day.day == 29 and not calendar.isleap(year):
        return dt.date(year, 2, 28)
    return dt.date(year, day.month, day.day)


def minus_one_month(day: dt.date) -> dt.date:
    """Same day one month earlier, clipped to the end of the shorter month."""
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    return dt.date(year, month, min(day.day, _month_days(year, month)))


def full_years(start: dt.date, on: dt.date) -> int:
    """Completed years from ``start`` to ``on`` (0 if ``on`` is before the first anniversary)."""
    if on < start:
        return 0
    years = on.year - start.year
    if add_years(start, years) > on:
        years -= 1
    return years


def first_endorsement_due(residence_began: dt.date, issue_date: dt.date) -> dt.date:
    """The first anniversary of ``residence_began`` strictly after ``issue_date``."""
    years = max(1, full_years(residence_began, issue_date) + 1)
    due = add_years(residence_began, years)
    while due <= issue_date:  # pragma: no cover - defensive, full_years makes this exact
        years += 1
        due = add_years(residence_began, years)
    return due


class EndorsementPeriod(NamedTuple):
    """The dates one endorsement covers (inclusive) and whether it was late."""

    start: dt.date
    end: dt.date
    late: bool


def next_endorsement_period(
    covered_until: dt.date, endorsed_on: dt.date, expiry_date: dt.date | None = None
) -> EndorsementPeriod:
    """The period an endorsement made on ``endorsed_on`` covers.

    ``covered_until`` is the last covered date so far (``first_endorsement_due`` or the previous
    endorsement's ``period_end``), which is also the day the next endorsement is due.
    """
    due = covered_until
    if endorsed_on < minus_one_month(due):
        raise EndorsementNotDue(f"endorsement window opens on {minus_one_month(due).isoformat()}")
    if expiry_date is not None and endorsed_on > expiry_date:
        raise EndorsementNotDue("the permit has expired")
    if endorsed_on <= due:
        return EndorsementPeriod(due, add_years(due, 1), late=False)
    return EndorsementPeriod(endorsed_on, add_years(endorsed_on, 1), late=True)


def period_is_consistent(
    covered_until: dt.date, endorsed_on: dt.date, start: dt.date, end: dt.date
) -> bool:
    """Whether a signed period is the one :func:`next_endorsement_period` gives."""
    try:
        expected = next_endorsement_period(covered_until, endorsed_on)
    except EndorsementNotDue:
        return False
    return (expected.start, expected.end) == (start, end)


@dataclass(frozen=True)
class EndorsementStatus:
    """Coverage on one local date."""

    on: dt.date
    covered_until: dt.date
    suspended: bool
    #: Start of the current continuous residence (moves to a late endorsement's day).
    residence_counted_from: dt.date | None
    #: Day the next endorsement is due and the day its window opens.
    next_due: dt.date
    window_opens: dt.date
    #: Positions (0-based) of endorsements whose period breaks the schedule (not applied).
    inconsistent: tuple[int, ...] = ()


def endorsement_status(
    first_due: dt.date,
    periods: Iterable[tuple[dt.date, dt.date, dt.date]],
    on: dt.date,
    residence_began: dt.date | None = None,
) -> EndorsementStatus:
    """Coverage on ``on`` given verified endorsements ``(endorsed_on, start, end)``.

    Endorsements are applied in the given order (their sequence numbers); one whose period is
    not the expected one is skipped and listed in ``inconsistent``.  Only endorsements made on
    or before ``on`` count.
    """
    covered_until = first_due
    counted_from = residence_began
    inconsistent: list[int] = []
    for index, (endorsed_on, start, end) in enumerate(periods):
        if endorsed_on > on:
            continue
        if not period_is_consistent(covered_until, endorsed_on, start, end):
            inconsistent.append(index)
            continue
        if start > covered_until:  # late: suspended in between, residence counted anew
            counted_from = start
        covered_until = end
    return EndorsementStatus(
        on=on,
        covered_until=covered_until,
        suspended=on > covered_until,
        residence_counted_from=counted_from,
        next_due=covered_until,
        window_opens=minus_one_month(covered_until),
        inconsistent=tuple(inconsistent),
    )
