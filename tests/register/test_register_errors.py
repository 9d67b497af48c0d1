"""Expected register failures a caller can provoke are register errors with stable codes
(still ``ValueError`` where they were one), never bare ``ValueError``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine

from card_service.register.db import make_engine
from card_service.register.errors import (
    InvalidCardSerial,
    InvalidDigest,
    InvalidInput,
    InvalidReason,
    RegisterConfigError,
    RegisterError,
)
from card_service.register.settings import checkpoint_every
from card_service.register.types import NaiveDateTime, require_utc
from keys import clock
from permit_errors import ErrorKind, PermitError
from tests.dbfixtures import NOW

from .helpers import approved, digest, issue, make_register

LATER = NOW + dt.timedelta(hours=1)


@pytest.mark.parametrize("reason", ["replaced", "damaged", "nonsense", ""])
def test_revoke_reason(db_engine: Engine, reason: str) -> None:
    register = make_register(db_engine)
    number = issue(register, 1)
    with pytest.raises(InvalidReason) as caught:
        register.revoke(number, reason, NOW, "o", LATER)
    assert caught.value.code == "invalid_reason" and caught.value.kind is ErrorKind.INVALID
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, RegisterError)
    # fixed text, never the input echoed
    assert str(caught.value) == "revoke reason must be lost, stolen or cancelled (replace: replace)"
    assert register.permit(number).state.value == "ISSUED"


@pytest.mark.parametrize("reason", ["cancelled", "replaced", "x"])
def test_replace_reason(db_engine: Engine, reason: str) -> None:
    register = make_register(db_engine)
    number = issue(register, 1)
    with pytest.raises(InvalidReason):
        register.replace(number, reason, "CARD-NEW", "o", LATER)


@pytest.mark.parametrize("serial", ["", "X" * 65])
def test_card_serial(db_engine: Engine, serial: str) -> None:
    register = make_register(db_engine)
    with pytest.raises(InvalidCardSerial) as caught:
        register.reserve_permit(approved(register, 1), serial, NOW)
    assert caught.value.code == "invalid_card_serial"
    assert register.pending_issuances() == []


def test_digest(db_engine: Engine) -> None:
    register = make_register(db_engine)
    reservation = register.reserve_permit(approved(register, 1), "CARD-1", NOW)
    for bad in ("AB" * 32, "ab" * 31, "zz" * 32):
        with pytest.raises(InvalidDigest) as caught:
            register.mark_issued(reservation.permit_number, bad, digest("r"), NOW)
        assert caught.value.code == "invalid_digest"
    assert issubclass(InvalidDigest, InvalidInput)


def test_configuration(tmp_path: Path) -> None:
    for url in ("sqlite://", "sqlite:///:memory:", "mysql://localhost/register"):
        with pytest.raises(RegisterConfigError) as caught:
            make_engine(url)
        assert caught.value.kind is ErrorKind.CONFIG and isinstance(caught.value, ValueError)
    with pytest.raises(RegisterConfigError, match="PERMIT_AUDIT_CHECKPOINT_EVERY"):
        checkpoint_every({"PERMIT_AUDIT_CHECKPOINT_EVERY": "0"})


def test_require_utc_is_the_key_layers() -> None:
    assert require_utc is clock.require_utc
    with pytest.raises(NaiveDateTime) as caught:
        require_utc(dt.datetime(2026, 1, 1))
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, PermitError)
    plus8 = dt.timezone(dt.timedelta(hours=8))
    assert require_utc(dt.datetime(2026, 1, 1, 8, tzinfo=plus8)) == dt.datetime(
        2026, 1, 1, tzinfo=dt.UTC
    )


def test_naive_now_is_refused_before_anything_is_written(db_engine: Engine) -> None:
    register = make_register(db_engine)
    with pytest.raises(NaiveDateTime):
        register.reserve_permit(approved(register, 1), "CARD-1", NOW.replace(tzinfo=None))
    assert register.pending_issuances() == []
