"""Revocation and replacement (Article 11): ``ISSUED --revoke/replace--> REVOKED``.

:func:`replace` revokes the old permit (``replaced``) and reserves its successor on a new
card in *one* transaction; with ``lock_pending_only`` it is the issuance retry's decision,
taken on the locked permit row, that races :func:`.locking.lock_card` (:class:`Superseded`
when the other side won).
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from card_service.audit import append
from card_service.record.schedule import local_date

from .errors import InvalidReason, InvalidState, Superseded
from .issuance import reserve
from .models import (
    Application,
    ApplicationStatus,
    Permit,
    PermitState,
    Revocation,
    RevocationReason,
)
from .permit_numbers import allocate_sequence
from .residence import permit_residence
from .store import Store, authority, get_permit, load_view, write
from .types import require_utc
from .views import PermitView, Reservation

__all__ = ["REPLACE_REASONS", "REVOKE_REASONS", "replace", "revoke", "revoke_row"]

#: Reasons an officer may give to :func:`revoke` (``replaced`` comes from :func:`replace`).
REVOKE_REASONS = frozenset(
    {RevocationReason.LOST, RevocationReason.STOLEN, RevocationReason.CANCELLED}
)
REPLACE_REASONS = frozenset({"lost", "stolen", "damaged"})


def revoke_row(
    session: Session,
    permit: Permit,
    reason: RevocationReason,
    effective_at: dt.datetime,
    actor: str,
    now: dt.datetime,
    *,
    audit: bool = True,
) -> None:
    """ISSUED -> REVOKED in the caller's transaction (``audit=False``: the caller appends
    the entry itself, to keep the audit head last in the lock order)."""
    assert permit.id is not None
    if permit.state != PermitState.ISSUED:
        raise InvalidState(f"permit is {permit.state}, not ISSUED")
    permit.state = PermitState.REVOKED.value
    permit.closed_at = now
    session.add(
        Revocation(
            permit_id=permit.id,
            reason=reason.value,
            effective_at=require_utc(effective_at, "effective_at"),
            recorded_at=now,
            actor=actor,
        )
    )
    session.flush()
    if not audit:
        return
    append(
        session,
        actor=actor,
        action="permit.revoke",
        result=reason.value,
        now=now,
        permit_number=permit.number,
    )


def _revoke_reason(reason: str) -> RevocationReason:
    message = "revoke reason must be lost, stolen or cancelled (replace: replace)"
    try:
        why = RevocationReason(reason)
    except ValueError:
        raise InvalidReason(message) from None
    if why not in REVOKE_REASONS:
        raise InvalidReason(message)
    return why


def revoke(
    store: Store,
    permit_number: str,
    reason: str,
    effective_at: dt.datetime,
    actor: str,
    now: dt.datetime,
) -> PermitView:
    """ISSUED -> REVOKED for ``lost``, ``stolen`` or ``cancelled`` from ``effective_at``;
    any other reason is :class:`InvalidReason` (a ``ValueError``)."""
    now = require_utc(now)
    why = _revoke_reason(reason)

    def work(session: Session) -> PermitView:
        permit = get_permit(session, permit_number)
        revoke_row(session, permit, why, effective_at, actor, now)
        return load_view(session, permit)

    return write(store, now, work)


def replace(
    store: Store,
    permit_number: str,
    reason: str,
    new_card_serial: str,
    actor: str,
    now: dt.datetime,
    *,
    lock_pending_only: bool = False,
) -> Reservation:
    """Revoke the old permit (``replaced``) and reserve a new one on ``new_card_serial``, in
    one transaction (see :meth:`.service.Register.replace`)."""
    now = require_utc(now)
    if reason not in REPLACE_REASONS:
        raise InvalidReason("replace reason must be lost, stolen or damaged")

    def work(session: Session) -> Reservation:
        # lock order as everywhere: counter, permit rows, card, audit head (last)
        sequence = allocate_sequence(session, authority(store), local_date(now).year)
        old = get_permit(session, permit_number)
        if lock_pending_only and (
            old.state != PermitState.ISSUED or old.card_locked_at is not None
        ):
            raise Superseded("the permit is no longer lock pending")
        if old.state != PermitState.ISSUED:
            raise InvalidState(f"permit is {old.state}, not ISSUED")
        status = permit_residence(load_view(session, old), now)
        if status.suspended:
            raise InvalidState("the permit is suspended: endorse it before replacing")
        source = session.get(Application, old.application_id)
        assert source is not None
        application = Application(
            applicant_id=source.applicant_id,
            residence_address=source.residence_address,
            residence_began=source.residence_began,
            basis=source.basis,
            evidence_ref=source.evidence_ref,
            portrait_digest=source.portrait_digest,
            status=ApplicationStatus.APPROVED.value,
            reasons="",
            submitted_at=now,
            replaces_permit=permit_number,
        )
        session.add(application)
        session.flush()
        revoke_row(session, old, RevocationReason.REPLACED, now, actor, now, audit=False)
        return reserve(
            store,
            session,
            application,
            new_card_serial,
            now,
            actor,
            residence_began=source.residence_began,
            counted_from=status.counted_from,
            replaces=permit_number,
            sequence=sequence,
            audit_before=(
                ("permit.revoke", RevocationReason.REPLACED.value, permit_number),
                ("permit.replace", reason, permit_number),
            ),
        )

    return write(store, now, work)
