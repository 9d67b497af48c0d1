"""Decisions of concurrent issuances taken inside the register transaction (issue 9, §2).

``mark_issued`` of an abandoned reservation, ``replace(lock_pending_only=True)`` of a permit
whose lock is confirmed, and ``lock_card`` of a replaced permit are refused with
:class:`Superseded` and change nothing; ``lock_card`` runs the card command inside the
transaction, only when the permit is still ISSUED on that card, and records nothing when
the command fails.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from card_service.audit import AuditEvent
from card_service.register.errors import InvalidState, Superseded
from card_service.register.models import PermitState
from tests.dbfixtures import NOW

from .helpers import approved, digest, make_register

LATER = NOW + dt.timedelta(hours=1)


def _audit_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()


def test_mark_issued_of_an_abandoned_reservation_is_superseded(db_engine: Engine) -> None:
    register = make_register(db_engine)
    reservation = register.reserve_permit(approved(register, 21), "CARD-S1", NOW)
    register.abandon(reservation.permit_number, "retry", NOW)
    before = _audit_count(db_engine)
    with pytest.raises(Superseded):
        register.mark_issued(reservation.permit_number, digest("m"), digest("r"), LATER)
    assert register.permit(reservation.permit_number).state is PermitState.ABANDONED
    assert _audit_count(db_engine) == before
    assert issubclass(Superseded, InvalidState) and Superseded.code == "superseded"


def test_replace_of_a_lock_pending_permit_only_while_unconfirmed(db_engine: Engine) -> None:
    register = make_register(db_engine)
    first = register.reserve_permit(approved(register, 22), "CARD-S2", NOW)
    register.mark_issued(first.permit_number, digest("m"), digest("r"), NOW)
    register.lock_card(first.permit_number, "CARD-S2", NOW)
    before = _audit_count(db_engine)
    with pytest.raises(Superseded):
        register.replace(
            first.permit_number, "damaged", "CARD-S3", "issuer", LATER, lock_pending_only=True
        )
    assert register.permit(first.permit_number).state is PermitState.ISSUED
    assert register.pending_issuances() == [] and _audit_count(db_engine) == before
    # the officer's replace (lost card) is not limited to lock-pending permits
    register.replace(first.permit_number, "lost", "CARD-S3", "officer", LATER)
    assert register.permit(first.permit_number).state is PermitState.REVOKED


def test_lock_card_only_while_the_permit_is_this_cards(db_engine: Engine) -> None:
    register = make_register(db_engine)
    first = register.reserve_permit(approved(register, 23), "CARD-S4", NOW)
    register.mark_issued(first.permit_number, digest("m"), digest("r"), NOW)
    locked: list[str] = []
    with pytest.raises(Superseded):  # another card
        register.lock_card(first.permit_number, "CARD-OTHER", NOW, lock=lambda: locked.append("x"))

    def failing_lock() -> None:
        raise OSError("card removed")

    before = _audit_count(db_engine)
    with pytest.raises(OSError):
        register.lock_card(first.permit_number, "CARD-S4", NOW, lock=failing_lock)
    assert register.permit(first.permit_number).lock_pending  # nothing recorded
    assert _audit_count(db_engine) == before
    # replaced while lock pending (the retry on another card): the card is never locked
    register.replace(
        first.permit_number, "damaged", "CARD-S5", "issuer", LATER, lock_pending_only=True
    )
    before = _audit_count(db_engine)
    with pytest.raises(Superseded):
        register.lock_card(first.permit_number, "CARD-S4", LATER, lock=lambda: locked.append("x"))
    assert locked == [] and _audit_count(db_engine) == before


def test_lock_card_runs_the_command_then_records_once(db_engine: Engine) -> None:
    register = make_register(db_engine)
    first = register.reserve_permit(approved(register, 24), "CARD-S6", NOW)
    register.mark_issued(first.permit_number, digest("m"), digest("r"), NOW)
    calls: list[str] = []
    register.lock_card(first.permit_number, "CARD-S6", LATER, lock=lambda: calls.append("lock"))
    register.lock_card(first.permit_number, "CARD-S6", LATER, lock=lambda: calls.append("lock"))
    assert calls == ["lock", "lock"]
    view = register.permit(first.permit_number)
    assert view.card_locked_at == LATER and not view.lock_pending
    with Session(db_engine) as session:
        locks = session.execute(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "card.lock")
        ).scalar_one()
    assert locks == 1
