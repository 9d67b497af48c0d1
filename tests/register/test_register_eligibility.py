"""Article 2 eligibility, table-driven (pure function) and through the register."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine

from card_service.register.eligibility import Reason, check_eligibility, six_months_after
from tests.dbfixtures import NOW, id_number

from .helpers import applicant, application, make_register

TODAY = dt.date(2026, 11, 28)
BAD_CHECK = id_number(1)[:17] + ("1" if id_number(1)[17] != "1" else "2")
VALID = {
    "id_number": id_number(1),
    "name": "Li Na",
    "residence_address": "1 Road",
    "residence_began": dt.date(2026, 5, 27),
    "basis": "employment",
    "evidence_ref": "labour-contract-77",
}


@pytest.mark.parametrize(
    ("changes", "reasons"),
    [
        ({}, ()),
        # exactly six months: not "more than six months"
        ({"residence_began": dt.date(2026, 5, 28)}, (Reason.RESIDENCE_TOO_SHORT,)),
        ({"residence_began": dt.date(2026, 11, 1)}, (Reason.RESIDENCE_TOO_SHORT,)),
        ({"residence_began": TODAY}, (Reason.RESIDENCE_TOO_SHORT,)),
        ({"residence_began": TODAY + dt.timedelta(days=1)}, (Reason.RESIDENCE_BEGAN_IN_FUTURE,)),
        ({"basis": "residence"}, ()),
        ({"basis": "study"}, ()),
        ({"basis": None}, (Reason.BASIS_MISSING,)),
        ({"basis": " "}, (Reason.BASIS_MISSING,)),
        ({"basis": "tourism"}, (Reason.BASIS_UNKNOWN,)),
        ({"evidence_ref": None}, (Reason.EVIDENCE_MISSING,)),
        ({"basis": "residence", "evidence_ref": ""}, (Reason.EVIDENCE_MISSING,)),
        ({"basis": "study", "evidence_ref": "  "}, (Reason.EVIDENCE_MISSING,)),
        ({"id_number": BAD_CHECK}, (Reason.ID_NUMBER_INVALID,)),
        ({"name": ""}, (Reason.NAME_MISSING,)),
        ({"residence_address": ""}, (Reason.ADDRESS_MISSING,)),
        (
            {"basis": None, "evidence_ref": None, "residence_began": TODAY},
            (Reason.RESIDENCE_TOO_SHORT, Reason.BASIS_MISSING, Reason.EVIDENCE_MISSING),
        ),
    ],
)
def test_article_2(changes: dict[str, object], reasons: tuple[Reason, ...]) -> None:
    result = check_eligibility(**{**VALID, **changes, "today": TODAY})  # type: ignore[arg-type]
    assert result.reasons == reasons
    assert result.eligible is (not reasons)


@pytest.mark.parametrize(
    ("began", "six_months"),
    [
        (dt.date(2026, 1, 15), dt.date(2026, 7, 15)),
        (dt.date(2025, 8, 31), dt.date(2026, 2, 28)),
        (dt.date(2023, 8, 31), dt.date(2024, 2, 29)),
        (dt.date(2024, 2, 29), dt.date(2024, 8, 29)),
        (dt.date(2025, 7, 31), dt.date(2026, 1, 31)),
    ],
)
def test_six_months_after(began: dt.date, six_months: dt.date) -> None:
    assert six_months_after(began) == six_months


def test_rejection_is_stored_with_machine_readable_reasons(db_engine: Engine) -> None:
    register = make_register(db_engine)
    decision = register.submit_application(
        applicant(1), application(basis=None, evidence=None), "officer-1", NOW
    )
    assert not decision.approved
    assert decision.reasons == ("basis_missing", "evidence_missing")
    assert "Zhang" not in repr(applicant(1))
