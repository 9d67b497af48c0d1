from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from card_service.record import citizen_id
from card_service.record.sample import make_citizen_id

# The GB 11643-1999 example number (appendix): 11010519491231002X.
KNOWN = "11010519491231002X"


def test_known_number_is_valid() -> None:
    assert citizen_id.check(KNOWN, dt.date(1949, 12, 31)) == []
    assert citizen_id.check_character(KNOWN[:17]) == "X"


def test_wrong_check_character() -> None:
    problems = citizen_id.check(KNOWN[:17] + "1")
    assert any("check character" in p for p in problems)


def test_birth_date_must_match_field() -> None:
    assert any("birth_date" in p for p in citizen_id.check(KNOWN, dt.date(1949, 12, 30)))


def test_not_a_calendar_date() -> None:
    number = make_citizen_id("110105", dt.date(1949, 2, 28), 2)
    bad = number[:12] + "30" + number[14:17]
    bad += citizen_id.check_character(bad)
    assert any("calendar" in p for p in citizen_id.check(bad))


def test_hong_kong_macao_taiwan_codes() -> None:
    for code in ("810000", "820000", "830000"):
        assert citizen_id.check(make_citizen_id(code, dt.date(1990, 5, 1), 11)) == []
    number = make_citizen_id("810100", dt.date(1990, 5, 1), 11)
    assert any("810000" in p for p in citizen_id.check(number))


def test_unknown_province() -> None:
    number = make_citizen_id("990101", dt.date(1990, 5, 1), 11)
    assert any("province" in p for p in citizen_id.check(number))


def test_shape_errors_never_echo_value() -> None:
    for value in ("", "1234", "1101051949123100ZX", "\uff11" * 17 + "X"):
        for problem in citizen_id.check(value):
            assert value not in problem or not value


@given(
    st.sampled_from(["110101", "310115", "440305", "810000", "820000", "830000"]),
    st.dates(dt.date(1900, 1, 1), dt.date(2026, 1, 1)),
    st.integers(0, 999),
)
def test_generated_numbers_round_trip(code: str, born: dt.date, seq: int) -> None:
    number = make_citizen_id(code, born, seq)
    assert citizen_id.check(number, born) == []
    assert citizen_id.is_male(number) == (seq % 2 == 1)


@given(
    st.dates(dt.date(1950, 1, 1), dt.date(2020, 1, 1)),
    st.integers(0, 999),
    st.integers(0, 16),
    st.integers(1, 9),
)
def test_any_single_digit_change_is_caught(born: dt.date, seq: int, pos: int, delta: int) -> None:
    number = make_citizen_id("110101", born, seq)
    changed = number[:pos] + str((int(number[pos]) + delta) % 10) + number[pos + 1 :]
    assert citizen_id.check(changed, born) != []
