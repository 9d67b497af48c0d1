"""The one-live-permit-per-card index (``uq_permit_live_card``, partial on
``state IN ('RESERVED', 'ISSUED')``) on its own, on SQLite and PostgreSQL: raw writes that
skip every service check, by a *different person* (so ``uq_permit_active_person`` cannot be
what refuses them), must be refused by the database; a non-live row on the same card is
allowed (the index is partial, not a plain unique one).
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from card_service.register.models import Application, Card, Permit
from tests.dbfixtures import NOW
from tests.register.helpers import approved, make_register

REFUSED = r"(?i)uq_permit_live_card|permit\.card_serial"
COLUMNS = (
    "number, application_id, applicant_id, card_serial, state, residence_began, "
    "issue_date, first_endorsement_due, reserved_at"
)


def _live_pair(engine: Engine) -> tuple[Permit, int, int]:
    """Person 1 holds a RESERVED permit on CARD-L; person 2 an approved application."""
    register = make_register(engine)
    reservation = register.reserve_permit(approved(register, 1), "CARD-L", NOW)
    app2 = approved(register, 2)
    with Session(engine) as session:
        permit = session.exec(
            select(Permit).where(col(Permit.number) == reservation.permit_number)
        ).one()
        applicant2 = session.exec(select(Application).where(col(Application.id) == app2)).one()
        session.add(Card(serial="CARD-M", state="BLANK", updated_at=NOW))
        session.commit()
        session.refresh(permit)
        return permit, app2, applicant2.applicant_id


def _insert(
    session: Session, permit: Permit, app: int, person: int, number: str, card: str, state: str
) -> None:
    session.execute(
        text(f"INSERT INTO permit ({COLUMNS}) VALUES (:n, :a, :p, :c, :s, :d, :d, :d, :t)"),
        {
            "n": number,
            "a": app,
            "p": person,
            "c": card,
            "s": state,
            "d": permit.residence_began,
            "t": NOW.replace(tzinfo=None),
        },
    )
    session.flush()


@pytest.mark.parametrize("state", ["RESERVED", "ISSUED"])
def test_index_refuses_a_second_live_permit_on_the_card(db_engine: Engine, state: str) -> None:
    permit, app2, person2 = _live_pair(db_engine)
    assert person2 != permit.applicant_id
    with Session(db_engine) as session, pytest.raises(Exception, match=REFUSED):
        _insert(session, permit, app2, person2, "X-LIVE", "CARD-L", state)


def test_index_refuses_moving_a_live_permit_onto_the_card(db_engine: Engine) -> None:
    permit, app2, person2 = _live_pair(db_engine)
    with Session(db_engine) as session:
        _insert(session, permit, app2, person2, "X-OTHER", "CARD-M", "RESERVED")
        session.commit()
        with pytest.raises(Exception, match=REFUSED):
            session.execute(
                text("UPDATE permit SET card_serial = 'CARD-L' WHERE number = 'X-OTHER'")
            )
            session.flush()
        session.rollback()
        # an abandoned row on the card may exist; making it live again may not
        _insert(session, permit, app2, person2, "X-DEAD", "CARD-L", "ABANDONED")
        session.commit()
        session.execute(text("DELETE FROM permit WHERE number = 'X-OTHER'"))
        session.commit()
        with pytest.raises(Exception, match=REFUSED):
            session.execute(text("UPDATE permit SET state = 'RESERVED' WHERE number = 'X-DEAD'"))
            session.flush()
