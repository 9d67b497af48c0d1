"""The status of every permit index, for the signed status list (docs/status-list.md).

A permit's status index is its row id in the register: unique, assigned when the permit is
reserved and never reused, so a list built later is a superset of a list built earlier
(an index beyond a cached list's size reads "unknown" to a verifier, never "valid").

Status by the permit's effective state at ``now`` (:func:`.residence.effective_state`):

* ISSUED -> VALID; SUSPENDED (an annual endorsement overdue) -> SUSPENDED;
* REVOKED (from its effective time; replaced and cancelled permits included) -> INVALID;
* RESERVED (issuance in progress) and ABANDONED (rolled back) -> INVALID: deny by default;
  a half-written card of an abandoned issuance may carry a correctly signed record, and a
  permit becomes VALID in the first list built after its card is verified and locked;
* index 0 and ids of no row (never written by the register) -> INVALID.

Three queries (permits, endorsements, revocations), whatever the number of permits.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session, col

from .models import Endorsement, Permit, Revocation
from .residence import EndorsementView, effective_state
from .types import require_utc
from .views import PermitView

__all__ = ["INVALID", "SUSPENDED", "VALID", "StatusEntries", "status_entries"]

#: The Token Status List's status types (one byte per index here; 2 bits in the list).
VALID, INVALID, SUSPENDED = 0x00, 0x01, 0x02

_STATUS_OF = {"ISSUED": VALID, "SUSPENDED": SUSPENDED, "REVOKED": INVALID}


@dataclass(frozen=True)
class StatusEntries:
    """``statuses[i]`` is the status of index ``i`` (one byte each), ``size`` entries."""

    statuses: bytes
    counts: dict[int, int]

    @property
    def size(self) -> int:
        return len(self.statuses)


def status_entries(session: Session, now: dt.datetime) -> StatusEntries:
    """The status of every index at ``now``, read in one snapshot (``session``)."""
    now = require_utc(now)
    permits = list(session.execute(select(Permit).order_by(col(Permit.id))).scalars())
    endorsements: dict[int, list[EndorsementView]] = defaultdict(list)
    for e in session.execute(
        select(Endorsement).order_by(col(Endorsement.permit_id), col(Endorsement.sequence))
    ).scalars():
        endorsements[e.permit_id].append(
            EndorsementView(e.endorsed_on, e.period_start, e.period_end, e.recorded_at, e.late)
        )
    revocations = {
        r.permit_id: (r.reason, r.effective_at)
        for r in session.execute(select(Revocation)).scalars()
    }
    size = (permits[-1].id or 0) + 1 if permits else 1
    statuses = bytearray([INVALID]) * size
    for permit in permits:
        assert permit.id is not None
        view = PermitView.of(
            permit, tuple(endorsements.get(permit.id, ())), revocations.get(permit.id)
        )
        statuses[permit.id] = _STATUS_OF.get(effective_state(view, now), INVALID)
    counts = {status: statuses.count(status) for status in (VALID, INVALID, SUSPENDED)}
    return StatusEntries(bytes(statuses), counts)
