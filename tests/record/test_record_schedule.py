"""The calendar rules: anniversaries (leap day), windows, suspension and late endorsement."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from card_service.record.schedule import (
    EndorsementNotDue,
    add_years,
    endorsement_status,
    first_endorsement_due,
    full_years,
    local_date,
    minus_one_month,
    next_endorsement_period,
)

D = dt.date


def test_add_years_leap_day() -> None:
    assert add_years(D(2024, 2, 29), 1) == D(2025, 2, 28)
    assert add_years(D(2024, 2, 29), 4) == D(2028, 2, 29)
    assert add_years(D(2023, 3, 1), 1) == D(2024, 3, 1)


def test_minus_one_month_clips() -> None:
    assert minus_one_month(D(2025, 3, 31)) == D(2025, 2, 28)
    assert minus_one_month(D(2024, 3, 30)) == D(2024, 2, 29)
    assert minus_one_month(D(2025, 1, 15)) == D(2024, 12, 15)
    assert minus_one_month(D(2025, 2, 28)) == D(2025, 1, 28)


def test_full_years_leap_day() -> None:
    began = D(2020, 2, 29)
    assert full_years(began, D(2021, 2, 27)) == 0
    assert full_years(began, D(2021, 2, 28)) == 1
    assert full_years(began, D(2024, 2, 28)) == 3
    assert full_years(began, D(2024, 2, 29)) == 4
    assert full_years(began, D(2019, 1, 1)) == 0


def test_local_date_is_china_time() -> None:
    assert local_date(dt.datetime(2026, 1, 1, 15, 59, tzinfo=dt.UTC)) == D(2026, 1, 1)
    assert local_date(dt.datetime(2026, 1, 1, 16, 0, tzinfo=dt.UTC)) == D(2026, 1, 2)
    with pytest.raises(ValueError):
        local_date(dt.datetime(2026, 1, 1))


def test_first_due_is_first_anniversary_after_issue() -> None:
    assert first_endorsement_due(D(2024, 3, 15), D(2024, 10, 1)) == D(2025, 3, 15)
    assert first_endorsement_due(D(2020, 3, 15), D(2024, 10, 1)) == D(2025, 3, 15)
    assert first_endorsement_due(D(2020, 3, 15), D(2024, 3, 15)) == D(2025, 3, 15)
    assert first_endorsement_due(D(2020, 2, 29), D(2024, 10, 1)) == D(2025, 2, 28)
    assert first_endorsement_due(D(2020, 2, 29), D(2027, 10, 1)) == D(2028, 2, 29)


def test_window_on_time_late_and_too_early() -> None:
    due = D(2025, 3, 15)
    with pytest.raises(EndorsementNotDue):
        next_endorsement_period(due, D(2025, 2, 14))
    on_time = next_endorsement_period(due, D(2025, 2, 15))
    assert (on_time.start, on_time.end, on_time.late) == (due, D(2026, 3, 15), False)
    assert next_endorsement_period(due, due).late is False
    late = next_endorsement_period(due, D(2025, 4, 2))
    assert (late.start, late.end, late.late) == (D(2025, 4, 2), D(2026, 4, 2), True)
    with pytest.raises(EndorsementNotDue):
        next_endorsement_period(due, D(2025, 3, 1), expiry_date=D(2025, 2, 1))


def test_leap_day_due_window() -> None:
    due = D(2028, 2, 29)
    assert next_endorsement_period(due, D(2028, 1, 29)).start == due
    with pytest.raises(EndorsementNotDue):
        next_endorsement_period(due, D(2028, 1, 28))
    assert next_endorsement_period(due, due).end == D(2029, 2, 28)


def test_status_suspends_after_due_and_resumes_when_endorsed() -> None:
    first = D(2025, 3, 15)
    assert not endorsement_status(first, [], D(2025, 3, 15)).suspended
    assert endorsement_status(first, [], D(2025, 3, 16)).suspended
    late = [(D(2025, 4, 2), D(2025, 4, 2), D(2026, 4, 2))]
    assert endorsement_status(first, late, D(2025, 3, 20)).suspended  # not yet endorsed then
    status = endorsement_status(first, late, D(2025, 4, 2), residence_began=D(2024, 3, 15))
    assert not status.suspended
    assert status.residence_counted_from == D(2025, 4, 2)  # years counted anew
    assert status.next_due == D(2026, 4, 2)


def test_status_on_time_chain_and_inconsistent_period() -> None:
    first = D(2025, 3, 15)
    chain = [
        (D(2025, 3, 1), D(2025, 3, 15), D(2026, 3, 15)),
        (D(2026, 3, 10), D(2026, 3, 15), D(2027, 3, 15)),
    ]
    status = endorsement_status(first, chain, D(2027, 1, 1), residence_began=D(2024, 3, 15))
    assert not status.suspended and status.residence_counted_from == D(2024, 3, 15)
    assert endorsement_status(first, chain, D(2027, 3, 16)).suspended
    bogus = [(D(2025, 3, 1), D(2025, 3, 15), D(2030, 3, 15))]
    status = endorsement_status(first, bogus, D(2026, 1, 1))
    assert status.suspended and status.inconsistent == (0,)


@given(st.dates(dt.date(1990, 1, 1), dt.date(2060, 12, 31)), st.integers(0, 30))
def test_anniversary_properties(day: dt.date, years: int) -> None:
    later = add_years(day, years)
    assert later.month == day.month
    assert later.day == day.day or (day.month, day.day, later.day) == (2, 29, 28)
    assert full_years(day, later) == years
    if later > day:
        assert full_years(day, later - dt.timedelta(days=1)) == years - 1


@given(
    st.dates(dt.date(2000, 1, 1), dt.date(2040, 12, 31)),
    st.integers(-40, 400),
)
def test_endorsement_period_properties(due: dt.date, offset: int) -> None:
    on = due + dt.timedelta(days=offset)
    if on < minus_one_month(due):
        with pytest.raises(EndorsementNotDue):
            next_endorsement_period(due, on)
        return
    period = next_endorsement_period(due, on)
    assert period.start == max(due, on)
    assert period.end == add_years(period.start, 1)
    assert period.late == (on > due)
    status = endorsement_status(due, [(on, period.start, period.end)], period.end)
    assert not status.suspended
