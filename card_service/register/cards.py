"""Cards: binding a card to a permit being issued, terminating a returned card, and finding
the live permit a card carries."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select
from sqlmodel import Session, col

from card_service.audit import append

from .errors import ActivePermitExists, CardBusy, InvalidCardSerial, InvalidState, NotFound
from .models import LIVE_PERMIT_STATES, Card, CardState, Permit
from .store import Store, insert_ignore, load_view, write
from .types import require_utc
from .views import PermitView

__all__ = ["bind_card", "permit_for_card", "terminate_card"]

MAX_SERIAL_LENGTH = 64


def bind_card(session: Session, card_serial: str, applicant_id: int, now: dt.datetime) -> None:
    """Lock the card row (created if new) and check that neither the card nor the person
    has a live permit (one query for both; the unique indexes are the real guard).

    :class:`InvalidCardSerial` (a ``ValueError``) unless the serial is 1-64 characters."""
    if not card_serial or len(card_serial) > MAX_SERIAL_LENGTH:
        raise InvalidCardSerial(f"card serial must be 1-{MAX_SERIAL_LENGTH} characters")
    insert_ignore(session, Card, serial=card_serial, state=CardState.BLANK.value, updated_at=now)
    card = session.execute(
        select(Card).where(col(Card.serial) == card_serial).with_for_update()
    ).scalar_one()
    if card.state == CardState.TERMINATED:
        raise CardBusy("the card has been terminated")
    live = session.execute(
        select(col(Permit.card_serial), col(Permit.applicant_id)).where(
            col(Permit.state).in_(LIVE_PERMIT_STATES),
            or_(
                col(Permit.card_serial) == card_serial,
                col(Permit.applicant_id) == applicant_id,
            ),
        )
    ).all()
    if any(row[0] == card_serial for row in live):
        raise CardBusy("the card is bound to another pending or issued permit")
    if live:
        raise ActivePermitExists("the person already holds an active permit")
    card.state = CardState.PERSONALISING.value
    card.updated_at = now


def terminate_card(store: Store, card_serial: str, actor: str, now: dt.datetime) -> None:
    """A returned card is terminated; it may not be bound to a live permit."""
    now = require_utc(now)

    def work(session: Session) -> None:
        card = session.get(Card, card_serial, with_for_update=True)
        if card is None:
            raise NotFound("no such card")
        live = session.execute(
            select(col(Permit.number)).where(
                col(Permit.card_serial) == card_serial,
                col(Permit.state).in_(LIVE_PERMIT_STATES),
            )
        ).first()
        if live is not None:
            raise InvalidState("the card is bound to a live permit: revoke it first")
        card.state, card.updated_at = CardState.TERMINATED.value, now
        append(session, actor=actor, action="card.terminate", result="ok", now=now)

    write(store, now, work)


def permit_for_card(store: Store, card_serial: str) -> PermitView | None:
    """The RESERVED or ISSUED permit bound to a card, if any (recognising a card that a
    crashed issuance left half-written: RESERVED means "finish or abandon")."""
    with Session(store.engine) as session:
        permit: Permit | None = (
            session.execute(
                select(Permit).where(
                    col(Permit.card_serial) == card_serial,
                    col(Permit.state).in_(LIVE_PERMIT_STATES),
                )
            )
            .scalars()
            .first()
        )
        return None if permit is None else load_view(session, permit)
