"""The application JSON file (``docs/workflows.md``, example ``docs/examples/application.json``).

An application is validated, field by field, against exactly what the record can sign
(:mod:`card_service.record.data`: lengths, character classes, NFC, dates, enumerations, the
citizen ID with its birth date and sex, the portrait) when it is parsed and whenever a
:class:`PermitApplication` is built, so an application that could not be signed is refused
before it is submitted, before a permit number is reserved and before a card is touched.
The JSON itself is read strictly: UTF-8, at most :data:`APPLICATION_MAX_BYTES`, no duplicate
keys, no NaN/Infinity, bounded nesting.  Errors name the field, never its value (the file is
personal data).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from card_service.record import PermitBasis, PermitData, Sex
from card_service.record import citizen_id as citizen_ids
from card_service.record.data import EARLIEST_BIRTH, LATEST_DATE, TEXT_LIMITS, text_problem
from card_service.record.portrait import check_jpeg
from card_service.record.schedule import add_years
from card_service.register.applications import EVIDENCE_REF_MAX_BYTES
from card_service.register.views import ApplicantData, ApplicationData
from permit_errors import ErrorKind, PermitError

__all__ = [
    "APPLICATION_MAX_BYTES",
    "FORMAT",
    "ApplicationError",
    "PermitApplication",
    "load_application",
    "parse_application_bytes",
]

FORMAT = "permit-application/1"
#: Largest application file read (a 20 KB portrait is 27 KB of base64).
APPLICATION_MAX_BYTES = 64 * 1024
#: Deepest JSON nesting accepted (the format needs 2).
MAX_JSON_DEPTH = 8
#: Validity of a permit in years from the issue date.
VALIDITY_YEARS = 5


class ApplicationError(PermitError, ValueError):
    """The application file is unusable; the message names the field."""

    code = "application_invalid"
    kind = ErrorKind.INVALID


@dataclass(frozen=True)
class PermitApplication:
    """One person's application, as the officer's file gives it."""

    full_name: str
    sex: Sex
    ethnicity: str
    birth_date: dt.date
    citizen_id: str
    household_address: str
    portrait: bytes
    residence_address: str
    residence_began: dt.date
    basis: str
    evidence_ref: str
    issuing_authority: str

    def __repr__(self) -> str:
        return "PermitApplication(<redacted>)"

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ApplicationError("; ".join(problems))

    def problems(self) -> list[str]:
        """Every rule the application breaks, as ``section.field: reason`` (never a value)."""
        out: list[str] = []
        texts = {
            "applicant.full_name": (self.full_name, TEXT_LIMITS["full_name"]),
            "applicant.ethnicity": (self.ethnicity, TEXT_LIMITS["ethnicity"]),
            "applicant.household_address": (
                self.household_address,
                TEXT_LIMITS["household_address"],
            ),
            "application.residence_address": (
                self.residence_address,
                TEXT_LIMITS["residence_address"],
            ),
            "application.evidence_ref": (self.evidence_ref, EVIDENCE_REF_MAX_BYTES),
            "issuing_authority": (self.issuing_authority, TEXT_LIMITS["issuing_authority"]),
        }
        for name, (value, limit) in texts.items():
            problem = text_problem(value, limit)
            if problem is not None:
                out.append(f"{name}: {problem}")
        dates_ok = True
        for date_name, day in (
            ("applicant.birth_date", self.birth_date),
            ("application.residence_began", self.residence_began),
        ):
            if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
                out.append(f"{date_name}: must be a date")
                dates_ok = False
            elif not EARLIEST_BIRTH <= day <= LATEST_DATE:
                out.append(f"{date_name}: outside {EARLIEST_BIRTH} .. {LATEST_DATE}")
                dates_ok = False
        if dates_ok and self.residence_began < self.birth_date:
            out.append("application.residence_began: before applicant.birth_date")
        if not isinstance(self.sex, Sex):
            out.append("applicant.sex: must be male or female")
        if not isinstance(self.citizen_id, str):
            out.append("applicant.citizen_id: must be a text string")
        else:
            birth = self.birth_date if dates_ok else None
            out.extend(
                f"applicant.citizen_id: {p}" for p in citizen_ids.check(self.citizen_id, birth)
            )
            if not citizen_ids.check(self.citizen_id) and isinstance(self.sex, Sex):
                if citizen_ids.is_male(self.citizen_id) != (self.sex is Sex.MALE):
                    out.append("applicant.sex: differs from the sequence code of citizen_id")
        if not isinstance(self.portrait, bytes):
            out.append("applicant.portrait_jpeg_base64: must be a JPEG")
        else:
            out.extend(f"applicant.portrait_jpeg_base64: {p}" for p in check_jpeg(self.portrait))
        if self.basis not in {b.value for b in PermitBasis}:
            out.append("application.basis: must be employment, residence or study")
        return out

    @property
    def portrait_digest(self) -> str:
        return hashlib.sha256(self.portrait).hexdigest()

    def applicant_data(self) -> ApplicantData:
        return ApplicantData(self.citizen_id, self.full_name, self.birth_date)

    def application_data(self) -> ApplicationData:
        return ApplicationData(
            self.residence_address,
            self.residence_began,
            self.basis,
            self.evidence_ref,
            portrait_digest=self.portrait_digest,
        )

    def permit_data(
        self, *, permit_number: str, card_serial: bytes, issue_date: dt.date
    ) -> PermitData:
        """The record content for a reservation (issue date and number from the register)."""
        return PermitData(
            full_name=self.full_name,
            sex=self.sex,
            ethnicity=self.ethnicity,
            birth_date=self.birth_date,
            citizen_id=self.citizen_id,
            portrait=self.portrait,
            household_address=self.household_address,
            residence_address=self.residence_address,
            issuing_authority=self.issuing_authority,
            issue_date=issue_date,
            permit_number=permit_number,
            expiry_date=add_years(issue_date, VALIDITY_YEARS),
            permit_basis=PermitBasis(self.basis),
            residence_began=self.residence_began,
            card_serial=card_serial,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "applicant": {
                "full_name": self.full_name,
                "sex": self.sex.name.lower(),
                "ethnicity": self.ethnicity,
                "birth_date": self.birth_date.isoformat(),
                "citizen_id": self.citizen_id,
                "household_address": self.household_address,
                "portrait_jpeg_base64": base64.b64encode(self.portrait).decode("ascii"),
            },
            "application": {
                "residence_address": self.residence_address,
                "residence_began": self.residence_began.isoformat(),
                "basis": self.basis,
                "evidence_ref": self.evidence_ref,
            },
            "issuing_authority": self.issuing_authority,
        }


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_KNOWN_KEYS = frozenset(
    {
        "format",
        "applicant",
        "application",
        "issuing_authority",
        "full_name",
        "sex",
        "ethnicity",
        "birth_date",
        "citizen_id",
        "household_address",
        "portrait_jpeg_base64",
        "residence_address",
        "residence_began",
        "basis",
        "evidence_ref",
    }
)


def _field(obj: dict[str, Any], section: str, name: str) -> Any:
    if name not in obj:
        raise ApplicationError(f"{section}.{name} is missing")
    return obj[name]


def _text(obj: dict[str, Any], section: str, name: str) -> str:
    value = _field(obj, section, name)
    if not isinstance(value, str) or not value.strip():
        raise ApplicationError(f"{section}.{name} must be a non-empty string")
    return value.strip()


def _date(obj: dict[str, Any], section: str, name: str) -> dt.date:
    text = _text(obj, section, name)
    try:
        if not _ISO_DATE.fullmatch(text):
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ApplicationError(f"{section}.{name} must be a date YYYY-MM-DD") from None


def _section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name)
    if not isinstance(value, dict):
        raise ApplicationError(f"{name} must be an object")
    return value


def parse_application(doc: Any) -> PermitApplication:
    """Validate a decoded JSON document."""
    if not isinstance(doc, dict):
        raise ApplicationError("the application must be a JSON object")
    if doc.get("format") != FORMAT:
        raise ApplicationError(f"format must be {FORMAT!r}")
    person = _section(doc, "applicant")
    app = _section(doc, "application")
    sex_text = _text(person, "applicant", "sex").lower()
    if sex_text not in {"male", "female"}:
        raise ApplicationError("applicant.sex must be male or female")
    citizen_id = _text(person, "applicant", "citizen_id").upper()
    try:
        portrait = base64.b64decode(
            _text(person, "applicant", "portrait_jpeg_base64"), validate=True
        )
    except (binascii.Error, ValueError):
        raise ApplicationError("applicant.portrait_jpeg_base64 is not base64") from None
    basis = _text(app, "application", "basis")
    return PermitApplication(
        full_name=_text(person, "applicant", "full_name"),
        sex=Sex.MALE if sex_text == "male" else Sex.FEMALE,
        ethnicity=_text(person, "applicant", "ethnicity"),
        birth_date=_date(person, "applicant", "birth_date"),
        citizen_id=citizen_id,
        household_address=_text(person, "applicant", "household_address"),
        portrait=portrait,
        residence_address=_text(app, "application", "residence_address"),
        residence_began=_date(app, "application", "residence_began"),
        basis=basis,
        evidence_ref=_text(app, "application", "evidence_ref"),
        issuing_authority=_text(doc, "", "issuing_authority"),
    )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key, value in pairs:
        if key in doc:
            known = key if key in _KNOWN_KEYS else "a key"
            raise ApplicationError(f"duplicate key in the application ({known})")
        doc[key] = value
    return doc


def _no_constant(name: str) -> Any:
    raise ApplicationError(f"not JSON ({name} is not a number)")


def _depth(value: Any, limit: int) -> int:
    if limit < 0:
        raise ApplicationError("the application is nested too deeply")
    if isinstance(value, dict):
        return 1 + max((_depth(v, limit - 1) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v, limit - 1) for v in value), default=0)
    return 0


def parse_application_bytes(data: bytes) -> PermitApplication:
    """Parse and validate the bytes of an application file (see the module docstring)."""
    if len(data) > APPLICATION_MAX_BYTES:
        raise ApplicationError(f"the application is larger than {APPLICATION_MAX_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApplicationError(f"the application is not UTF-8 (byte {exc.start})") from None
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ApplicationError(f"not JSON (line {exc.lineno})") from None
    except RecursionError:
        raise ApplicationError("the application is nested too deeply") from None
    except ValueError as exc:  # an integer too long to convert
        if isinstance(exc, ApplicationError):
            raise
        raise ApplicationError("not JSON (a number out of range)") from None
    _depth(doc, MAX_JSON_DEPTH)
    return parse_application(doc)


def load_application(path: Path) -> PermitApplication:
    """Read (at most :data:`APPLICATION_MAX_BYTES` + 1 bytes) and parse an application file."""
    try:
        with Path(path).open("rb") as fh:
            data = fh.read(APPLICATION_MAX_BYTES + 1)
    except OSError as exc:
        raise ApplicationError(f"cannot read the application file: {exc.strerror}") from None
    return parse_application_bytes(data)


def synthetic_application(
    now: dt.datetime, *, seed: int | None = None, portrait_bytes: int = 4_000
) -> PermitApplication:
    """A synthetic, eligible application (tests, bench, the documentation example)."""
    from card_service.record.sample import synthetic_applicant

    data = synthetic_applicant(now, seed=seed, portrait_bytes=portrait_bytes)
    return PermitApplication(
        full_name=data.full_name,
        sex=data.sex,
        ethnicity=data.ethnicity,
        birth_date=data.birth_date,
        citizen_id=data.citizen_id,
        household_address=data.household_address,
        portrait=data.portrait,
        residence_address=data.residence_address,
        residence_began=data.residence_began,
        basis=data.permit_basis.value,
        evidence_ref=f"EV-{seed if seed is not None else 0}",
        issuing_authority=data.issuing_authority,
    )
