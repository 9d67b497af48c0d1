"""Helpers for register and audit tests."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import Engine

from card_service.register.service import Register
from card_service.register.views import ApplicantData, ApplicationData
from tests.dbfixtures import NOW, id_number

AUTHORITY = "330106"
RESIDENCE_BEGAN = dt.date(2025, 1, 10)
NAME_PREFIX = "Zhang Wei"
ADDRESS = "12 Wensan Road, Xihu District"


def applicant(index: int) -> ApplicantData:
    return ApplicantData(id_number(index), f"{NAME_PREFIX} {index}", dt.date(1990, 1, 1))


def application(
    began: dt.date = RESIDENCE_BEGAN, basis: str | None = "employment", evidence: str | None = "E-1"
) -> ApplicationData:
    return ApplicationData(ADDRESS, began, basis, evidence, portrait_digest="ab" * 32)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def approved(register: Register, index: int, now: dt.datetime = NOW) -> int:
    decision = register.submit_application(applicant(index), application(), "officer-1", now)
    assert decision.approved, decision.reasons
    return decision.application_id


def issue(register: Register, index: int, now: dt.datetime = NOW, serial: str | None = None) -> str:
    """Apply, reserve and mark issued; the permit number."""
    app_id = approved(register, index, now)
    reservation = register.reserve_permit(app_id, serial or f"CARD{index:06d}", now)
    register.mark_issued(
        reservation.permit_number, digest("mso" + reservation.permit_number), digest("rec"), now
    )
    return reservation.permit_number


def make_register(engine: Engine, **kw: object) -> Register:
    return Register(engine, authority_code=AUTHORITY, **kw)  # type: ignore[arg-type]
