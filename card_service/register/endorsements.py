"""Endorsement (Article 10): record the yearly endorsement of an issued permit."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from card_service.audit import append
from card_service.record.schedule import EndorsementNotDue, local_date, next_endorsement_period

from .errors import InvalidState
from .models import Endorsement, PermitState
from .store import Store, endorsement_rows, get_permit, write
from .types import require_utc
from .views import EndorsementRecord

__all__ = ["record_endorsement"]


def record_endorsement(
    store: Store, permit_number: str, now: dt.datetime, actor: str
) -> EndorsementRecord:
    """Endorse on the local date of ``now`` (Article 10); late endorsement restores."""
    now = require_utc(now)

    def work(session: Session) -> EndorsementRecord:
        permit = get_permit(session, permit_number)
        if permit.state != PermitState.ISSUED:
            raise InvalidState(f"permit is {permit.state}, not ISSUED")
        assert permit.id is not None
        done = endorsement_rows(session, permit.id)
        covered_until = done[-1].period_end if done else permit.first_endorsement_due
        today = local_date(now)
        try:
            period = next_endorsement_period(covered_until, today)
        except EndorsementNotDue as exc:
            raise InvalidState(str(exc)) from None
        row = Endorsement(
            permit_id=permit.id,
            sequence=len(done) + 1,
            endorsed_on=today,
            period_start=period.start,
            period_end=period.end,
            late=period.late,
            recorded_at=now,
        )
        session.add(row)
        append(
            session,
            actor=actor,
            action="permit.endorse",
            result="late" if period.late else "ok",
            now=now,
            permit_number=permit_number,
        )
        session.flush()
        return EndorsementRecord(
            permit_number, row.sequence, today, period.start, period.end, period.late
        )

    return write(store, now, work)
