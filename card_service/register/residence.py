"""Years of residence and the endorsement schedule of a registered permit (Article 10).

The calendar rules are those of the signed record (:mod:`card_service.record.schedule`), so
the register and a verifier reading the card always agree: endorsement is due in the month
before each full year of residence; a late endorsement restores the permit, and the years of
residence count continuously from that endorsement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from card_service.record.schedule import (
    endorsement_status,
    full_years,
    local_date,
    minus_one_month,
)

from .models import PermitState
from .types import require_utc

if TYPE_CHECKING:  # views imports EndorsementView from here
    from .views import PermitView

__all__ = [
    "EndorsementView",
    "ResidenceStatus",
    "effective_state",
    "permit_residence",
    "residence_status",
]


@dataclass(frozen=True)
class EndorsementView:
    endorsed_on: dt.date
    period_start: dt.date
    period_end: dt.date
    #: When the register recorded it (the card's signed ``endorsed_at`` is this instant).
    recorded_at: dt.datetime | None = None
    late: bool = False


@dataclass(frozen=True)
class ResidenceStatus:
    """What public services need on one local date."""

    on: dt.date
    #: Continuous residence starts here (moves to the day of a late endorsement).
    counted_from: dt.date
    years_of_residence: int
    covered_until: dt.date
    next_due: dt.date
    window_opens: dt.date
    in_window: bool
    suspended: bool


def residence_status(
    residence_began: dt.date,
    first_due: dt.date,
    endorsements: Sequence[EndorsementView],
    now: dt.datetime,
    counted_from: dt.date | None = None,
) -> ResidenceStatus:
    """Coverage, due window and years of residence at ``now`` (a tz-aware instant).

    While suspended (overdue, not yet endorsed) the years of residence are those completed up
    to the last covered day: the count does not run on during a suspension and restarts from
    a late endorsement.  ``counted_from`` is continuity carried over from a replaced permit.
    """
    on = local_date(now)
    status = endorsement_status(
        first_due,
        [(e.endorsed_on, e.period_start, e.period_end) for e in endorsements],
        on,
        counted_from or residence_began,
    )
    start = status.residence_counted_from or counted_from or residence_began
    years_at = min(on, status.covered_until)
    return ResidenceStatus(
        on=on,
        counted_from=start,
        years_of_residence=full_years(start, years_at),
        covered_until=status.covered_until,
        next_due=status.next_due,
        window_opens=minus_one_month(status.next_due),
        in_window=minus_one_month(status.next_due) <= on <= status.next_due,
        suspended=status.suspended,
    )


def permit_residence(view: PermitView, now: dt.datetime) -> ResidenceStatus:
    """:func:`residence_status` of a registered permit at ``now``."""
    return residence_status(
        view.residence_began,
        view.first_endorsement_due,
        view.endorsements,
        now,
        view.residence_counted_from,
    )


def effective_state(view: PermitView, now: dt.datetime) -> str:
    """RESERVED, ISSUED, SUSPENDED (computed), REVOKED (from its effective time) or
    ABANDONED: the stored state as a relying party sees it at ``now``."""
    if view.state == PermitState.REVOKED:
        assert view.revocation_effective_at is not None
        if require_utc(now) >= view.revocation_effective_at:
            return "REVOKED"
    elif view.state != PermitState.ISSUED:
        return view.state.value
    return "SUSPENDED" if permit_residence(view, now).suspended else "ISSUED"
