"""Years of residence and the endorsement due window (Article 10) over simulated ``now``."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine

from card_service.record.schedule import first_endorsement_due
from card_service.register.errors import InvalidState
from card_service.register.residence import EndorsementView, residence_status
from card_service.register.service import effective_state

from .helpers import approved, digest, make_register


def at(day: str, hour: int = 4) -> dt.datetime:
    """``day`` at ``hour`` UTC (noon in China for the default)."""
    y, m, d = map(int, day.split("-"))
    return dt.datetime(y, m, d, hour, tzinfo=dt.UTC)


BEGAN = dt.date(2025, 1, 10)
FIRST_DUE = first_endorsement_due(BEGAN, dt.date(2025, 8, 1))
LATE = (EndorsementView(dt.date(2026, 3, 15), dt.date(2026, 3, 15), dt.date(2027, 3, 15)),)
ON_TIME = (
    EndorsementView(dt.date(2025, 12, 20), dt.date(2026, 1, 10), dt.date(2027, 1, 10)),
    EndorsementView(dt.date(2027, 1, 10), dt.date(2027, 1, 10), dt.date(2028, 1, 10)),
)


def test_first_due_is_the_next_anniversary() -> None:
    assert FIRST_DUE == dt.date(2026, 1, 10)


@pytest.mark.parametrize(
    ("began", "endorsements", "now", "years", "in_window", "suspended", "counted_from"),
    [
        (BEGAN, (), at("2025-12-09"), 0, False, False, BEGAN),
        (BEGAN, (), at("2025-12-10"), 0, True, False, BEGAN),  # window opens a month before
        (BEGAN, (), at("2026-01-10"), 1, True, False, BEGAN),  # due day: still covered
        (BEGAN, (), at("2026-01-10", 15), 1, True, False, BEGAN),  # 23:00 CST, same day
        (BEGAN, (), at("2026-01-10", 17), 1, False, True, BEGAN),  # 01:00 CST next day
        (BEGAN, (), at("2026-01-11"), 1, False, True, BEGAN),  # overdue: suspended
        (BEGAN, (), at("2026-06-01"), 1, False, True, BEGAN),  # years do not run on
        # late endorsement restores the permit and restarts the count
        (BEGAN, LATE, at("2026-03-14"), 1, False, True, BEGAN),
        (BEGAN, LATE, at("2026-03-15"), 0, False, False, dt.date(2026, 3, 15)),
        (BEGAN, LATE, at("2027-03-15"), 1, True, False, dt.date(2026, 3, 15)),
        # on-time endorsements: continuous count from the start of residence
        (BEGAN, ON_TIME, at("2027-01-09"), 1, True, False, BEGAN),
        (BEGAN, ON_TIME, at("2027-01-10"), 2, False, False, BEGAN),
        (BEGAN, ON_TIME, at("2028-01-10"), 3, True, False, BEGAN),
        (BEGAN, ON_TIME, at("2028-01-11"), 3, False, True, BEGAN),
    ],
)
def test_residence_status(
    began: dt.date,
    endorsements: tuple[EndorsementView, ...],
    now: dt.datetime,
    years: int,
    in_window: bool,
    suspended: bool,
    counted_from: dt.date,
) -> None:
    status = residence_status(began, FIRST_DUE, endorsements, now)
    assert (status.years_of_residence, status.in_window, status.suspended) == (
        years,
        in_window,
        suspended,
    )
    assert status.counted_from == counted_from


LEAP_BEGAN = dt.date(2024, 2, 29)
LEAP_FIRST_DUE = first_endorsement_due(LEAP_BEGAN, dt.date(2024, 9, 1))


@pytest.mark.parametrize(
    ("now", "years", "in_window", "suspended", "next_due"),
    [
        (at("2025-01-27"), 0, False, False, dt.date(2025, 2, 28)),
        (at("2025-01-28"), 0, True, False, dt.date(2025, 2, 28)),
        (at("2025-02-28"), 1, True, False, dt.date(2025, 2, 28)),
        (at("2025-03-01"), 1, False, True, dt.date(2025, 2, 28)),
    ],
)
def test_29_february(
    now: dt.datetime, years: int, in_window: bool, suspended: bool, next_due: dt.date
) -> None:
    assert LEAP_FIRST_DUE == dt.date(2025, 2, 28)
    status = residence_status(LEAP_BEGAN, LEAP_FIRST_DUE, (), now)
    assert (status.years_of_residence, status.in_window, status.suspended) == (
        years,
        in_window,
        suspended,
    )
    assert status.next_due == next_due


def test_29_february_in_a_leap_year_four_years_on() -> None:
    """Periods run 28 Feb to 28 Feb in common years; the fourth anniversary is 29 Feb 2028."""
    periods = []
    start = LEAP_FIRST_DUE
    for year in (2026, 2027, 2028, 2029):
        end = dt.date(year, 2, 28)
        periods.append(EndorsementView(start - dt.timedelta(days=10), start, end))
        start = end
    on_29 = residence_status(LEAP_BEGAN, LEAP_FIRST_DUE, tuple(periods), at("2028-02-29"))
    assert (on_29.years_of_residence, on_29.suspended) == (4, False)
    on_28 = residence_status(LEAP_BEGAN, LEAP_FIRST_DUE, tuple(periods), at("2028-02-28"))
    assert on_28.years_of_residence == 3


def test_register_endorsements_late_restore_and_continuity(db_engine: Engine) -> None:
    register = make_register(db_engine)
    issued_at = at("2025-08-01")
    app_id = approved(register, 7, issued_at)
    reservation = register.reserve_permit(app_id, "CARD-R1", issued_at)
    assert reservation.first_endorsement_due == dt.date(2026, 1, 10)
    number = reservation.permit_number
    register.mark_issued(number, digest("m"), digest("r"), issued_at)

    with pytest.raises(InvalidState):  # window not open yet
        register.record_endorsement(number, at("2025-12-09"))
    on_time = register.record_endorsement(number, at("2025-12-20"))
    assert (on_time.period_start, on_time.period_end, on_time.late) == (
        dt.date(2026, 1, 10),
        dt.date(2027, 1, 10),
        False,
    )
    assert register.years_of_residence(number, at("2027-01-10")) == 2
    assert effective_state(register.permit(number), at("2027-02-01")) == "SUSPENDED"
    assert register.effective_state(number, at("2027-02-01")) == "SUSPENDED"

    late = register.record_endorsement(number, at("2027-02-01"))
    assert late.late and late.period_start == dt.date(2027, 2, 1)
    assert register.effective_state(number, at("2027-02-01")) == "ISSUED"
    status = register.endorsement_status(number, at("2028-02-01"))
    assert status.counted_from == dt.date(2027, 2, 1)
    assert status.years_of_residence == 1
    assert status.next_due == dt.date(2028, 2, 1) and status.in_window


def test_replacement_carries_continuity_after_a_late_endorsement(db_engine: Engine) -> None:
    register = make_register(db_engine)
    issued_at = at("2025-08-01")
    reservation = register.reserve_permit(approved(register, 8, issued_at), "CARD-L1", issued_at)
    number = reservation.permit_number
    register.mark_issued(number, digest("m"), digest("r"), issued_at)
    register.record_endorsement(number, at("2026-03-15"))  # late: count restarts here
    replaced = register.replace(number, "lost", "CARD-L2", "officer-1", at("2026-09-01"))
    assert replaced.residence_began == dt.date(2025, 1, 10)  # as on the card
    assert replaced.residence_counted_from == dt.date(2026, 3, 15)
    assert replaced.first_endorsement_due == dt.date(2027, 1, 10)  # record rule
    new = replaced.permit_number
    register.mark_issued(new, digest("m2"), digest("r2"), at("2026-09-01"))
    status = register.endorsement_status(new, at("2027-01-10"))
    assert status.counted_from == dt.date(2026, 3, 15)
    assert status.years_of_residence == 0
    register.record_endorsement(new, at("2027-01-05"))
    assert register.years_of_residence(new, at("2027-03-15")) == 1
