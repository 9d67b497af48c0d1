"""Citizen identity numbers per GB 11643-1999.

18 characters: a 6-digit address code (GB/T 2260), the 8-digit birth date ``YYYYMMDD``, a
3-digit sequence code (odd for men, even for women) and a check character computed with
ISO 7064 MOD 11-2 (``0``-``9`` or ``X``).

Address codes: the first two digits must be a province-level code of GB/T 2260.  Residents of
Hong Kong, Macao and Taiwan receive the whole codes 810000, 820000 and 830000 (State Council
measures of 2018), which are therefore accepted exactly.  The county part is not checked
against the full GB/T 2260 table: that table changes every year and a number stays valid
after its county is renamed.

:func:`check` returns the list of problems (never echoing the number itself).
"""

from __future__ import annotations

import datetime as dt

__all__ = ["PROVINCE_CODES", "SPECIAL_ADDRESS_CODES", "birth_date", "check", "check_character"]

#: Province-level codes of GB/T 2260.
PROVINCE_CODES = frozenset(
    {
        "11", "12", "13", "14", "15",
        "21", "22", "23",
        "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46",
        "50", "51", "52", "53", "54",
        "61", "62", "63", "64", "65",
    }
)  # fmt: skip
#: Hong Kong, Macao and Taiwan residents (residence permits for them since 2018).
SPECIAL_ADDRESS_CODES = frozenset({"810000", "820000", "830000"})

_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK = "10X98765432"


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def birth_date(number: str) -> dt.date | None:
    """The birth date encoded in ``number`` or ``None`` if it is not a date."""
    try:
        return dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def check(number: str, expected_birth_date: dt.date | None = None) -> list[str]:
    """Every rule ``number`` breaks (empty if it is valid)."""
    if not isinstance(number, str):
        return ["must be a text string"]
    if len(number) != 18:
        return ["must be 18 characters"]
    if not number[:17].isascii() or not number[:17].isdigit():
        return ["the first 17 characters must be digits"]
    if number[17] not in "0123456789X":
        return ["the check character must be a digit or X"]
    problems = []
    address = number[:6]
    if address[:2] in {"81", "82", "83"}:
        if address not in SPECIAL_ADDRESS_CODES:
            problems.append(
                "address code of Hong Kong, Macao or Taiwan must be 810000/820000/830000"
            )
    elif address[:2] not in PROVINCE_CODES:
        problems.append("address code has no valid province")
    born = birth_date(number)
    if born is None:
        problems.append("birth date part is not a calendar date")
    elif expected_birth_date is not None and born != expected_birth_date:
        problems.append("birth date part differs from birth_date")
    if check_character(number[:17]) != number[17]:
        problems.append("check character does not match (ISO 7064 MOD 11-2)")
    return problems


def is_male(number: str) -> bool:
    """Whether the sequence code is odd (GB 11643: odd for men)."""
    return int(number[16]) % 2 == 1
