"""Issuance: reserve a permit number on a card, mark it issued, or abandon it.

``RESERVED --mark_issued--> ISSUED``, ``RESERVED --abandon--> ABANDONED``.  The card lock
that follows issuance is in :mod:`.locking`.  Locks are taken in the register's one order:
permit counter, card, permit rows, audit chain head last (docs/register.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from sqlalchemy import or_, select, update
from sqlmodel import Session, col

from card_service.audit import append
from card_service.record.schedule import first_endorsement_due, local_date

from .cards import bind_card
from .errors import InvalidDigest, InvalidState, NotEligible, NotFound, Superseded
from .models import Application, ApplicationStatus, Card, CardState, Permit, PermitState
from .permit_numbers import allocate_sequence, format_permit_number
from .store import Store, authority, get_permit, load_view, write
from .types import require_utc
from .views import PermitView, Reservation

__all__ = [
    "abandon",
    "check_digest",
    "mark_issued",
    "pending_issuances",
    "reserve",
    "reserve_permit",
]

log = logging.getLogger(__name__)

_DIGEST_HEX = frozenset("0123456789abcdef")


def check_digest(value: str, what: str) -> str:
    """``value`` if it is a lower-case hex SHA-256 digest; else :class:`InvalidDigest`."""
    if len(value) != 64 or not set(value) <= _DIGEST_HEX:
        raise InvalidDigest(f"{what} must be a lower-case hex SHA-256 digest")
    return value


def reserve(
    store: Store,
    session: Session,
    application: Application,
    card_serial: str,
    now: dt.datetime,
    actor: str,
    *,
    residence_began: dt.date,
    replaces: str | None,
    counted_from: dt.date | None = None,
    sequence: int | None = None,
    audit_before: Sequence[tuple[str, str, str]] = (),
) -> Reservation:
    """Insert the RESERVED permit in the caller's transaction.  ``sequence`` may be
    allocated by the caller (it must come first in the lock order); ``audit_before`` are
    (action, result, permit number) entries appended before the reservation's own, so the
    audit head is locked last."""
    assert application.id is not None
    today = local_date(now)
    # lock order: counter, card, permit rows, audit head
    if sequence is None:
        sequence = allocate_sequence(session, authority(store), today.year)
    number = format_permit_number(authority(store), today.year, sequence)
    bind_card(session, card_serial, application.applicant_id, now)
    permit = Permit(
        number=number,
        application_id=application.id,
        applicant_id=application.applicant_id,
        card_serial=card_serial,
        state=PermitState.RESERVED.value,
        residence_began=residence_began,
        residence_counted_from=counted_from,
        issue_date=today,
        # exactly what the signed record derives from these two dates
        first_endorsement_due=first_endorsement_due(residence_began, today),
        reserved_at=now,
        replaces_permit=replaces,
    )
    session.add(permit)
    session.flush()  # unique indexes fire here; the row id (the status index) is assigned
    assert permit.id is not None
    for action, result, about in audit_before:
        append(session, actor=actor, action=action, result=result, now=now, permit_number=about)
    append(
        session,
        actor=actor,
        action="permit.reserve",
        result="ok",
        now=now,
        permit_number=number,
    )
    log.info("reserved permit %s", number)
    return Reservation(
        number,
        application.id,
        card_serial,
        now,
        permit.residence_began,
        permit.issue_date,
        permit.first_endorsement_due,
        replaces,
        counted_from,
        permit.id,
    )


def reserve_permit(
    store: Store, application_id: int, card_serial: str, now: dt.datetime, actor: str
) -> Reservation:
    """Allocate a number and bind the card: a RESERVED permit, pending issuance."""
    now = require_utc(now)

    def work(session: Session) -> Reservation:
        application = session.get(Application, application_id)
        if application is None:
            raise NotFound("no such application")
        if application.status != ApplicationStatus.APPROVED:
            raise NotEligible(tuple(application.reasons.split(",")))
        return reserve(
            store,
            session,
            application,
            card_serial,
            now,
            actor,
            residence_began=application.residence_began,
            replaces=application.replaces_permit,
        )

    return write(store, now, work)


def mark_issued(
    store: Store,
    permit_number: str,
    mso_digest: str,
    record_digest: str,
    now: dt.datetime,
    actor: str,
) -> PermitView:
    """RESERVED -> ISSUED after read-back verification; a retry with the same digests is
    a no-op, so a crash after commit and before the caller noticed is harmless."""
    now = require_utc(now)
    check_digest(mso_digest, "mso_digest")
    check_digest(record_digest, "record_digest")

    def work(session: Session) -> PermitView:
        permit = get_permit(session, permit_number)
        if permit.state == PermitState.ISSUED and (permit.mso_digest, permit.record_digest) == (
            mso_digest,
            record_digest,
        ):
            return load_view(session, permit)
        if permit.state != PermitState.RESERVED:
            # e.g. abandoned by a concurrent retry of the same application
            raise Superseded(f"permit is {permit.state}, not RESERVED")
        permit.state = PermitState.ISSUED.value
        permit.issued_at = now
        permit.mso_digest = mso_digest
        permit.record_digest = record_digest
        session.execute(
            update(Card)
            .where(col(Card.serial) == permit.card_serial)
            .values(state=CardState.ISSUED.value, updated_at=now)
        )
        log.info("permit %s issued", permit_number)
        append(
            session,
            actor=actor,
            action="permit.issue",
            result="ok",
            now=now,
            permit_number=permit_number,
        )
        session.flush()
        # just issued: no endorsement or revocation yet (saves two queries per issuance)
        return PermitView.of(permit, (), None)

    return write(store, now, work)


def abandon(
    store: Store, permit_number: str, reason: str, now: dt.datetime, actor: str
) -> PermitView:
    """RESERVED -> ABANDONED (a rolled-back issuance); the card may be wiped and reused.

    ``reason`` is a short code (``card_removed``, ``verify_failed``, ``reconciled``...).
    Abandoning an abandoned permit is a no-op; an ISSUED one cannot be abandoned.
    """
    now = require_utc(now)

    def work(session: Session) -> PermitView:
        permit = get_permit(session, permit_number)
        if permit.state == PermitState.ABANDONED:
            return load_view(session, permit)
        if permit.state != PermitState.RESERVED:
            raise InvalidState(f"permit is {permit.state}, not RESERVED")
        permit.state = PermitState.ABANDONED.value
        permit.closed_at = now
        permit.abandon_reason = reason[:64]
        card = session.get(Card, permit.card_serial, with_for_update=True)
        assert card is not None
        card.state, card.updated_at = CardState.BLANK.value, now
        log.warning("permit %s abandoned (%s)", permit_number, reason)
        append(
            session,
            actor=actor,
            action="permit.abandon",
            result=reason,
            now=now,
            permit_number=permit_number,
        )
        session.flush()
        return load_view(session, permit)

    return write(store, now, work)


def pending_issuances(
    store: Store, *, application_id: int | None = None, card_serial: str | None = None
) -> list[Reservation]:
    """RESERVED permits, oldest first: what startup reconciliation finishes or abandons.

    With ``application_id`` and/or ``card_serial``: only those of that application or
    bound to that card (what a retry must clean up).
    """
    stmt = select(Permit).where(col(Permit.state) == PermitState.RESERVED)
    either = []
    if application_id is not None:
        either.append(col(Permit.application_id) == application_id)
    if card_serial is not None:
        either.append(col(Permit.card_serial) == card_serial)
    if either:
        stmt = stmt.where(or_(*either))
    with Session(store.engine) as session:
        permits = session.execute(stmt.order_by(col(Permit.reserved_at), col(Permit.id))).scalars()
        # RESERVED: no endorsements or revocation to load
        return [PermitView.of(p, (), None).reservation() for p in permits]
