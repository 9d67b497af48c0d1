"""The application JSON file (``docs/workflows.md``, example ``docs/examples/application.json``).

Loading validates shape and types; the citizen ID check character and element sizes are
validated by :meth:`PermitData.validate` when the record is built.  Errors name the field,
never its value (the file is personal data).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from card_service.record import PermitBasis, PermitData, Sex
from card_service.record.citizen_id import check_character
from card_service.record.schedule import add_years
from card_service.register.views import ApplicantData, ApplicationData

__all__ = ["FORMAT", "ApplicationError", "PermitApplication", "load_application"]

FORMAT = "permit-application/1"
#: Validity of a permit in years from the issue date.
VALIDITY_YEARS = 5


class ApplicationError(ValueError):
    """The application file is unusable; the message names the field."""


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
    if (
        len(citizen_id) != 18
        or not citizen_id[:17].isdigit()
        or check_character(citizen_id[:17]) != citizen_id[17]
    ):
        raise ApplicationError("applicant.citizen_id is not a valid GB 11643 number")
    try:
        portrait = base64.b64decode(
            _text(person, "applicant", "portrait_jpeg_base64"), validate=True
        )
    except (binascii.Error, ValueError):
        raise ApplicationError("applicant.portrait_jpeg_base64 is not base64") from None
    if not portrait.startswith(b"\xff\xd8"):
        raise ApplicationError("applicant.portrait_jpeg_base64 is not a JPEG")
    basis = _text(app, "application", "basis")
    if basis not in set(PermitBasis):
        raise ApplicationError("application.basis must be employment, residence or study")
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


def load_application(path: Path) -> PermitApplication:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ApplicationError(f"cannot read the application file: {exc.strerror}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApplicationError(f"not JSON (line {exc.lineno})") from None
    return parse_application(doc)


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
