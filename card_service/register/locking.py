"""The card lock after issuance: *lock pending* until the register records it.

An ISSUED permit whose ``card_locked_at`` is unset is lock pending: its card was read back
and verified but is not known to be locked.  :func:`lock_card` locks the card and records it
in one transaction, decided on the locked permit row, so that it and a concurrent
``replace(lock_pending_only=True)`` (:mod:`.revocations`) can never both succeed
(docs/workflows.md, "Concurrent issuance"); :func:`lock_pending` lists what startup
reconciliation must finish.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import select, update
from sqlmodel import Session, col

from card_service.audit import append

from .errors import InvalidState, Superseded
from .models import Permit, PermitState
from .store import Store, get_permit, load_view, write
from .types import require_utc
from .views import PermitView

__all__ = ["confirm_locked", "lock_card", "lock_pending"]


def confirm_locked(store: Store, permit_number: str, now: dt.datetime, actor: str) -> None:
    """Record that the card of an ISSUED permit is locked (idempotent)."""
    now = require_utc(now)

    def work(session: Session) -> None:
        # one conditional UPDATE on the hot path; the error cases look the row up
        changed = session.execute(
            update(Permit)
            .where(
                col(Permit.number) == permit_number,
                col(Permit.state) == PermitState.ISSUED,
                col(Permit.card_locked_at).is_(None),
            )
            .values(card_locked_at=now)
            .returning(col(Permit.id))
        ).first()
        if changed is None:
            permit = get_permit(session, permit_number, lock=False)
            if permit.state != PermitState.ISSUED:
                raise InvalidState(f"permit is {permit.state}, not ISSUED")
            return  # already confirmed
        append(
            session,
            actor=actor,
            action="card.lock",
            result="ok",
            now=now,
            permit_number=permit_number,
        )

    write(store, now, work)


def lock_card(
    store: Store,
    permit_number: str,
    card_serial: str,
    now: dt.datetime,
    actor: str,
    lock: Callable[[], None] | None,
    *,
    pin_reset: bool = False,
) -> None:
    """Lock the card of a lock-pending permit and confirm it, decided in one transaction:
    ``lock`` (the card command) runs inside it, after the locked permit row was found still
    ISSUED on ``card_serial`` (else :class:`Superseded`); ``pin_reset``: the card was given
    a fresh PIN and PUK before ``lock`` (audit ``card.pin_reset``, never the PIN itself).
    The full contract is on :meth:`.service.Register.lock_card`."""
    now = require_utc(now)

    def work(session: Session) -> None:
        permit = get_permit(session, permit_number)
        if permit.card_serial != card_serial:
            raise Superseded("the permit is bound to another card")
        if permit.state != PermitState.ISSUED:
            raise Superseded(f"permit is {permit.state}, not ISSUED")
        if lock is not None:
            lock()
        if permit.card_locked_at is not None:
            return
        permit.card_locked_at = now
        if pin_reset:
            append(
                session,
                actor=actor,
                action="card.pin_reset",
                result="ok",
                now=now,
                permit_number=permit_number,
            )
        append(
            session,
            actor=actor,
            action="card.lock",
            result="ok",
            now=now,
            permit_number=permit_number,
        )

    write(store, now, work)


def lock_pending(store: Store, application_id: int | None = None) -> list[PermitView]:
    """ISSUED permits whose card is not confirmed locked (of one application if given),
    oldest first."""
    stmt = select(Permit).where(
        col(Permit.state) == PermitState.ISSUED, col(Permit.card_locked_at).is_(None)
    )
    if application_id is not None:
        stmt = stmt.where(col(Permit.application_id) == application_id)
    with Session(store.engine) as session:
        permits = session.execute(stmt.order_by(col(Permit.issued_at), col(Permit.id))).scalars()
        return [load_view(session, p) for p in permits]
