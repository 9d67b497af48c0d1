"""Permit numbers: format, check character and allocation without duplicates.

Format (18 characters, all ASCII)::

    AAAAAA YYYY NNNNNNN C
    |      |    |       └ check character, ISO 7064 MOD 11-2 over the 17 digits ("0"-"9", "X"),
    |      |    |         the algorithm of GB 11643 (reused from card_service.record.citizen_id)
    |      |    └ sequence within (authority, year), from 0000001, zero-padded
    |      └ year of the reservation (local date in China Standard Time)
    └ administrative division code (GB/T 2260) of the issuing authority

Example: authority 330106, year 2026, sequence 42 -> ``33010620260000042`` + check ``2`` =
``330106202600000422``.

Allocation: one ``permit_counter`` row per (authority, year) is incremented with
``UPDATE ... RETURNING`` in the reservation's transaction.  The update locks the row until
commit (PostgreSQL) or runs under SQLite's ``BEGIN IMMEDIATE`` write lock, so two
transactions never get the same value, and a rolled-back reservation gives its number back
(numbers are gapless among committed reservations).  The row is created on first use with
``INSERT ... ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

import re

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from card_service.record.citizen_id import check_character
from permit_errors import ErrorKind, PermitError

from .models import PermitCounter

__all__ = [
    "MAX_SEQUENCE",
    "PermitNumberError",
    "allocate_sequence",
    "format_permit_number",
    "is_valid_permit_number",
    "parse_permit_number",
]

MAX_SEQUENCE = 9_999_999
_AUTHORITY = re.compile(r"\d{6}")
_NUMBER = re.compile(r"(\d{6})(\d{4})(\d{7})([\dX])")


class PermitNumberError(PermitError, ValueError):
    """A malformed permit number or authority code, or an exhausted sequence."""

    code = "permit_number_invalid"
    kind = ErrorKind.INVALID


def check_authority_code(code: str) -> str:
    if not _AUTHORITY.fullmatch(code) or code == "000000":
        raise PermitNumberError("the authority code must be 6 digits (GB/T 2260)")
    return code


def format_permit_number(authority_code: str, year: int, sequence: int) -> str:
    check_authority_code(authority_code)
    if not 1000 <= year <= 9999:
        raise PermitNumberError("year out of range")
    if not 1 <= sequence <= MAX_SEQUENCE:
        raise PermitNumberError("sequence out of range")
    body = f"{authority_code}{year:04d}{sequence:07d}"
    return body + check_character(body)


def parse_permit_number(number: str) -> tuple[str, int, int]:
    """``(authority_code, year, sequence)``; raises :class:`PermitNumberError` if invalid."""
    match = _NUMBER.fullmatch(number) if isinstance(number, str) else None
    if match is None:
        raise PermitNumberError("a permit number is 17 digits and a check character")
    if check_character(number[:17]) != number[17]:
        raise PermitNumberError("permit number check character does not match")
    sequence = int(match.group(3))
    if sequence == 0:
        raise PermitNumberError("permit number sequence is zero")
    return match.group(1), int(match.group(2)), sequence


def is_valid_permit_number(number: str) -> bool:
    try:
        parse_permit_number(number)
    except PermitNumberError:
        return False
    return True


def allocate_sequence(session: Session, authority_code: str, year: int) -> int:
    """The next sequence of (authority, year), locked until the session's transaction ends."""
    check_authority_code(authority_code)
    bump = (
        update(PermitCounter)
        .where(
            col(PermitCounter.authority_code) == authority_code,
            col(PermitCounter.year) == year,
        )
        .values(last_seq=col(PermitCounter.last_seq) + 1)
        .returning(col(PermitCounter.last_seq))
    )
    value = session.execute(bump).scalar_one_or_none()
    if value is None:
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        session.execute(
            insert(PermitCounter)
            .values(authority_code=authority_code, year=year, last_seq=0)
            .on_conflict_do_nothing()
        )
        value = session.execute(bump).scalar_one()
    sequence = int(value)
    if sequence > MAX_SEQUENCE:
        raise PermitNumberError("permit number sequence exhausted for this year")
    return sequence
