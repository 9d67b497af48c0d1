"""An application is validated against exactly what the record can sign, before submission."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from api.cli import main
from card_service.record.data import text_problem
from card_service.workflows.application import (
    ApplicationError,
    parse_application,
    parse_application_bytes,
    synthetic_application,
)

from .conftest import SIGNED


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return synthetic_application(SIGNED, seed=5).to_json()


def with_field(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    *sections, name = path.split(".")
    target = out
    for section in sections:
        target = target[section]
    target[name] = value
    return out


BAD: list[tuple[str, Any]] = [
    ("applicant.full_name", "张\x07伟"),  # BEL
    ("applicant.full_name", "张伟\u202e"),  # right-to-left override
    ("applicant.full_name", "张\u2066伟\u2069"),  # bidi isolate
    ("applicant.full_name", "张\u200b伟"),  # zero-width space
    ("applicant.full_name", "Jose\u0301"),  # not NFC
    ("applicant.full_name", "张\u00a0伟"),  # no-break space
    ("applicant.full_name", "张\ue000伟"),  # private use
    ("applicant.full_name", "张\u2028伟"),  # line separator
    ("applicant.full_name", "张" * 41),  # 123 UTF-8 bytes > 120
    ("applicant.full_name", "\ud800"),  # lone surrogate
    ("applicant.ethnicity", "汉\x00族"),
    ("applicant.household_address", "北京\r\n市"),
    ("application.residence_address", "上海\x1b[2J"),
    ("application.evidence_ref", "EV\x7f1"),
    ("issuing_authority", "公安\u202d局"),
    ("applicant.birth_date", "0001-01-01"),
    ("applicant.birth_date", "9999-12-31"),
    ("applicant.birth_date", "19730617"),
    ("application.residence_began", "9999-12-31"),
    ("application.residence_began", "1899-12-31"),
    ("application.residence_began", "2026-W01-1"),
    ("application.basis", "tourism"),
    ("applicant.sex", "other"),
    ("applicant.citizen_id", "110101197306176624"),  # check character
    ("applicant.portrait_jpeg_base64", "aGVsbG8="),  # not a JPEG
]


@pytest.mark.parametrize(("field", "value"), BAD, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD)])
def test_field_the_record_cannot_sign_is_refused(
    doc: dict[str, Any], field: str, value: Any
) -> None:
    with pytest.raises(ApplicationError) as caught:
        parse_application(with_field(doc, field, value))
    message = str(caught.value)
    assert field.split(".")[-1] in message
    if isinstance(value, str) and len(value) > 3:
        assert value not in message


def test_sex_must_agree_with_the_citizen_id(doc: dict[str, Any]) -> None:
    sex = doc["applicant"]["sex"]
    with pytest.raises(ApplicationError, match="sex"):
        parse_application(with_field(doc, "applicant.sex", "male" if sex == "female" else "female"))


def test_birth_date_must_be_the_citizen_ids(doc: dict[str, Any]) -> None:
    with pytest.raises(ApplicationError, match="citizen_id"):
        parse_application(with_field(doc, "applicant.birth_date", "1980-01-01"))


@pytest.mark.parametrize(
    "name", ["张伟", "阿卜杜热合曼·买买提", "Nguyễn Văn An", "欧阳　娜娜", "O'Brien-Smith"]
)
def test_real_names_are_accepted(doc: dict[str, Any], name: str) -> None:
    assert text_problem(name, 120) is None
    assert parse_application(with_field(doc, "applicant.full_name", name)).full_name == name


def test_every_problem_is_listed(doc: dict[str, Any]) -> None:
    bad = with_field(doc, "applicant.full_name", "a\x01b")
    bad = with_field(bad, "applicant.ethnicity", "x\u202e")
    with pytest.raises(ApplicationError) as caught:
        parse_application(bad)
    assert "full_name" in str(caught.value) and "ethnicity" in str(caught.value)


def test_duplicate_keys_are_an_error(doc: dict[str, Any]) -> None:
    text = json.dumps(doc, ensure_ascii=False)
    dup = text.replace('"basis": ', '"basis": "study", "basis": ', 1)
    with pytest.raises(ApplicationError, match="duplicate key"):
        parse_application_bytes(dup.encode())
    assert parse_application_bytes(text.encode()).basis == doc["application"]["basis"]


def test_control_characters_refused_before_register_and_card(
    doc: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The attack: such a name was approved, used up a permit number and left the card
    PERSONALISING.  Now ``permit issue`` stops before the register or a reader is opened."""
    monkeypatch.setenv("PERMIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PERMIT_DATABASE_URL", f"sqlite:///{tmp_path / 'register.db'}")
    path = tmp_path / "app.json"
    path.write_text(
        json.dumps(with_field(doc, "applicant.full_name", "张\x1b[31m伟"), ensure_ascii=False),
        encoding="utf-8",
    )
    assert main(["issue", "--reader", "Simulated Reader 0", str(path)]) == 1
    err = capsys.readouterr().err
    assert "full_name" in err and "control" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "register.db").exists()
    assert not (tmp_path / "home").exists()
