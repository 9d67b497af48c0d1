"""Validation of permit data: field-named errors, never a value."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from card_service.record import PermitData, RecordValidationError
from card_service.record.portrait import PORTRAIT_MAX_BYTES, check_jpeg, jpeg_dimensions
from card_service.record.sample import make_citizen_id, synthetic_applicant, synthetic_portrait

from .conftest import SIGNED

BASE = synthetic_applicant(SIGNED, seed=5)


def problems(**changes: object) -> dict[str, str]:
    data = dataclasses.replace(BASE, **changes)  # type: ignore[arg-type]
    with pytest.raises(RecordValidationError) as info:
        data.validate()
    message = str(info.value)
    for value in changes.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in message  # never echo personal data
    return {p.field: p.reason for p in info.value.problems}


def test_sample_is_valid_and_repr_is_redacted() -> None:
    BASE.validate()
    assert BASE.full_name not in repr(BASE) and BASE.citizen_id not in repr(BASE)


def test_text_limits_and_content() -> None:
    assert "longer than" in problems(full_name="名" * 41)["full_name"]
    assert "empty" in problems(ethnicity="  ")["ethnicity"]
    assert "control" in problems(residence_address="北京\n市")["residence_address"]
    assert "Unicode" in problems(issuing_authority="\ud800abc")["issuing_authority"]


def test_citizen_id_rules_are_reported_on_the_field() -> None:
    born = BASE.birth_date
    other = make_citizen_id("110101", born.replace(year=born.year - 1), 11)
    assert "birth date" in problems(citizen_id=other)["citizen_id"]
    assert "check character" in problems(citizen_id=BASE.citizen_id[:17] + "Y")["citizen_id"]


def test_sex_must_match_sequence_code() -> None:
    from card_service.record import Sex

    other = Sex.FEMALE if BASE.sex is Sex.MALE else Sex.MALE
    assert "sequence code" in problems(sex=other)["sex"]


def test_dates_are_consistent() -> None:
    issue = BASE.issue_date
    assert "not after" in problems(expiry_date=issue)["expiry_date"]
    assert "5 years" in problems(expiry_date=issue.replace(year=issue.year + 6))["expiry_date"]
    assert (
        "six months" in problems(residence_began=issue - dt.timedelta(days=100))["residence_began"]
    )
    found = problems(residence_began=BASE.birth_date - dt.timedelta(days=1))
    assert "before birth_date" in found["residence_began"]


def test_other_fields() -> None:
    assert "permit_number" in problems(permit_number="abc")
    assert "card_serial" in problems(card_serial=b"\x00" * 7)
    assert "permit_basis" in problems(permit_basis="tourism")


def test_all_problems_are_reported_at_once() -> None:
    found = problems(full_name="", permit_number="x", card_serial=b"")
    assert {"full_name", "permit_number", "card_serial"} <= set(found)


def test_portrait_must_be_a_jpeg_within_limits() -> None:
    jpeg = synthetic_portrait(1)
    assert check_jpeg(jpeg) == [] and jpeg_dimensions(jpeg) == (160, 200)
    assert "portrait" in problems(portrait=b"\x89PNG\r\n\x1a\n" + b"\x00" * 500)
    assert "portrait" in problems(portrait=jpeg[: len(jpeg) // 2])  # truncated
    assert "portrait" in problems(portrait=jpeg + b"trailing")
    big = jpeg[:-2] + b"\x00" * (PORTRAIT_MAX_BYTES - len(jpeg) + 1) + b"\xff\xd9"
    assert "larger" in problems(portrait=big)["portrait"]


def test_first_endorsement_due_is_derived() -> None:
    data: PermitData = BASE
    assert data.first_endorsement_due > data.issue_date
    assert data.elements()["first_endorsement_due"] == data.first_endorsement_due
