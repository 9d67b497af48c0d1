"""The permit data (Interim Regulations on Residence Permits, 2016) and its validation.

:class:`PermitData` holds what the issuer certifies.  :meth:`PermitData.validate` checks every
rule and raises :class:`~card_service.record.errors.RecordValidationError` listing all broken
rules by element identifier; values never appear in messages or in ``repr``.

The element identifiers, CBOR types and limits are listed in ``docs/record-format.md`` and
in :data:`ELEMENTS`.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, fields
from enum import IntEnum, StrEnum
from typing import Any

from . import citizen_id
from .errors import FieldProblem, RecordValidationError
from .portrait import check_jpeg
from .schedule import add_years, first_endorsement_due

__all__ = [
    "ELEMENTS",
    "LATEST_DATE",
    "MANDATORY_ELEMENTS",
    "TEXT_LIMITS",
    "ElementSpec",
    "PermitBasis",
    "PermitData",
    "Sex",
    "text_problem",
]


class Sex(IntEnum):
    """GB/T 2261.1 codes (the only two a citizen ID number can carry)."""

    MALE = 1
    FEMALE = 2


class PermitBasis(StrEnum):
    """The condition the permit was granted on (Article 2 of the regulations)."""

    EMPLOYMENT = "employment"
    RESIDENCE = "residence"
    STUDY = "study"


#: Upper limits of the text elements in UTF-8 bytes (a CJK character is 3 bytes).
TEXT_LIMITS = {
    "full_name": 120,
    "ethnicity": 30,
    "household_address": 300,
    "residence_address": 300,
    "issuing_authority": 150,
}

_PERMIT_NUMBER = re.compile(r"[0-9A-Z]{6,24}")
SERIAL_BYTES = 8
#: The earliest birth date accepted (sanity bound).
EARLIEST_BIRTH = dt.date(1900, 1, 1)
#: The latest date any date element may hold (sanity bound: date arithmetic never overflows).
LATEST_DATE = dt.date(2199, 12, 31)
#: Unicode categories refused in text: controls, format characters (bidi overrides and
#: isolates, zero-width characters, BOM), surrogates, private use, unassigned, line and
#: paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
#: The only space characters allowed (ASCII space and the ideographic space of CJK text).
_SPACES = frozenset({" ", "\u3000"})
#: Longest validity of a permit.
MAX_VALIDITY_YEARS = 5
#: Residence of at least half a year is required before a permit is issued (Article 2).
MIN_RESIDENCE_MONTHS = 6


@dataclass(frozen=True)
class ElementSpec:
    """One data element: identifier, CBOR type (as in the docs) and Python type."""

    identifier: str
    cbor_type: str
    python_type: type


#: Every element of the namespace, in record order.
ELEMENTS: tuple[ElementSpec, ...] = (
    ElementSpec("full_name", "tstr", str),
    ElementSpec("sex", "uint", int),
    ElementSpec("ethnicity", "tstr", str),
    ElementSpec("birth_date", "full-date", dt.date),
    ElementSpec("citizen_id", "tstr", str),
    ElementSpec("portrait", "bstr", bytes),
    ElementSpec("household_address", "tstr", str),
    ElementSpec("residence_address", "tstr", str),
    ElementSpec("issuing_authority", "tstr", str),
    ElementSpec("issue_date", "full-date", dt.date),
    ElementSpec("permit_number", "tstr", str),
    ElementSpec("expiry_date", "full-date", dt.date),
    ElementSpec("permit_basis", "tstr", str),
    ElementSpec("residence_began", "full-date", dt.date),
    ElementSpec("card_serial", "tstr", str),
    ElementSpec("first_endorsement_due", "full-date", dt.date),
)
ELEMENT_TYPES = {e.identifier: e.python_type for e in ELEMENTS}

#: Elements every presentation must disclose: the revocation status is looked up by permit
#: number, and endorsement coverage starts at ``first_endorsement_due``.
MANDATORY_ELEMENTS = ("permit_number", "first_endorsement_due")


def text_problem(value: object, limit: int) -> str | None:
    """Why ``value`` cannot be a text element of at most ``limit`` UTF-8 bytes (None: it can).

    Text is non-empty, NFC-normalised, without leading or trailing white space, and holds
    no character of the refused categories (controls, bidi and other format characters,
    surrogates, private use, unassigned) and no space but U+0020 and U+3000.  Chinese,
    accented and other scripts are of course allowed.
    """
    if not isinstance(value, str):
        return "must be a text string"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid Unicode (lone surrogate)"
    if not value.strip():
        return "is empty"
    if size > limit:
        return f"longer than {limit} UTF-8 bytes"
    for char in value:
        category = unicodedata.category(char)
        if category in _REFUSED_CATEGORIES:
            return "contains control, format (bidi) or unassigned characters"
        if category == "Zs" and char not in _SPACES:
            return "contains a space character other than U+0020 or U+3000"
    if value != value.strip():
        return "has leading or trailing white space"
    if not unicodedata.is_normalized("NFC", value):
        return "is not in Unicode normalisation form NFC"
    return None


def _months_later(day: dt.date, months: int) -> dt.date:
    total = day.year * 12 + day.month - 1 + months
    year, month = divmod(total, 12)
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month + 1, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True, repr=False)
class PermitData:
    """What the issuing authority certifies about one holder and one card."""

    full_name: str
    sex: Sex
    ethnicity: str
    birth_date: dt.date
    citizen_id: str
    portrait: bytes
    household_address: str
    residence_address: str
    issuing_authority: str
    issue_date: dt.date
    permit_number: str
    expiry_date: dt.date
    permit_basis: PermitBasis
    residence_began: dt.date
    #: The card serial from EF.CardInfo, 8 bytes (upper-case hex in the record).
    card_serial: bytes

    def __repr__(self) -> str:  # personal data never reaches logs through repr
        return "PermitData(<redacted>)"

    @property
    def first_endorsement_due(self) -> dt.date:
        return first_endorsement_due(self.residence_began, self.issue_date)

    def problems(self) -> list[FieldProblem]:
        """Every rule the data breaks, by element identifier."""
        out: list[FieldProblem] = []

        def bad(name: str, reason: str) -> None:
            out.append(FieldProblem(name, reason))

        for name, limit in TEXT_LIMITS.items():
            problem = text_problem(getattr(self, name), limit)
            if problem is not None:
                bad(name, problem)
        dates = ("birth_date", "issue_date", "expiry_date", "residence_began")
        for name in dates:
            value = getattr(self, name)
            if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
                bad(name, "must be a date")
        if not isinstance(self.sex, int) or self.sex not in (Sex.MALE, Sex.FEMALE):
            bad("sex", "must be 1 (male) or 2 (female)")
        if not isinstance(self.permit_basis, str) or self.permit_basis not in set(PermitBasis):
            bad("permit_basis", "must be employment, residence or study")
        if not isinstance(self.permit_number, str) or not _PERMIT_NUMBER.fullmatch(
            self.permit_number
        ):
            bad("permit_number", "must be 6-24 characters 0-9 A-Z")
        if not isinstance(self.card_serial, bytes) or len(self.card_serial) != SERIAL_BYTES:
            bad("card_serial", f"must be {SERIAL_BYTES} bytes")
        out.extend(FieldProblem("portrait", p) for p in check_jpeg(self.portrait))
        dates_ok = all(
            isinstance(getattr(self, n), dt.date) and not isinstance(getattr(self, n), dt.datetime)
            for n in dates
        )
        out.extend(
            FieldProblem("citizen_id", p)
            for p in citizen_id.check(self.citizen_id, self.birth_date if dates_ok else None)
        )
        if (
            not any(p.field == "citizen_id" for p in out)
            and isinstance(self.sex, int)
            and self.sex in (Sex.MALE, Sex.FEMALE)
            and citizen_id.is_male(self.citizen_id) != (self.sex == Sex.MALE)
        ):
            bad("sex", "differs from the sequence code of citizen_id")
        if dates_ok:
            for name in dates:
                if getattr(self, name) > LATEST_DATE:
                    bad(name, f"after {LATEST_DATE.isoformat()}")
                    dates_ok = False  # no date arithmetic near the end of the calendar
        if dates_ok:
            if self.birth_date < EARLIEST_BIRTH:
                bad("birth_date", f"before {EARLIEST_BIRTH.isoformat()}")
            if self.birth_date > self.residence_began:
                bad("residence_began", "before birth_date")
            if self.birth_date > self.issue_date:
                bad("birth_date", "after issue_date")
            if _months_later(self.residence_began, MIN_RESIDENCE_MONTHS) > self.issue_date:
                bad("residence_began", "less than six months before issue_date")
            if self.expiry_date <= self.issue_date:
                bad("expiry_date", "not after issue_date")
            elif self.expiry_date > add_years(self.issue_date, MAX_VALIDITY_YEARS):
                bad("expiry_date", f"more than {MAX_VALIDITY_YEARS} years after issue_date")
        return out

    def validate(self) -> None:
        """Raise :class:`RecordValidationError` naming every broken rule."""
        problems = self.problems()
        if problems:
            raise RecordValidationError(problems)

    def elements(self) -> dict[str, Any]:
        """The element values as they are encoded (CBOR-ready), in record order."""
        values: dict[str, Any] = {}
        for f in fields(self):
            values[f.name] = getattr(self, f.name)
        values["sex"] = int(self.sex)
        values["permit_basis"] = str(self.permit_basis)
        values["card_serial"] = self.card_serial.hex().upper()
        values["portrait"] = bytes(self.portrait)
        values["first_endorsement_due"] = self.first_endorsement_due
        return {e.identifier: values[e.identifier] for e in ELEMENTS}
