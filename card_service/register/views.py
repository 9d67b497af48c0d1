"""Immutable results handed out by the register (no ORM objects escape a transaction), and
the read-only summaries built from them (:func:`permit_history`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from .models import Permit, PermitState
from .residence import EndorsementView, effective_state, permit_residence

__all__ = [
    "ApplicantData",
    "ApplicationData",
    "ApplicationDecision",
    "EndorsementRecord",
    "PermitFacts",
    "PermitHistory",
    "PermitReader",
    "PermitView",
    "Reservation",
    "permit_history",
]


@dataclass(frozen=True)
class ApplicantData:
    """Personal data: stored in ``applicant`` only, never logged or audited."""

    id_number: str
    name: str
    birth_date: dt.date

    def __repr__(self) -> str:  # keep personal data out of tracebacks and logs
        return "ApplicantData(<redacted>)"


@dataclass(frozen=True)
class ApplicationData:
    residence_address: str
    residence_began: dt.date
    basis: str | None
    evidence_ref: str | None
    portrait_digest: str | None = None

    def __repr__(self) -> str:
        return "ApplicationData(<redacted>)"


@dataclass(frozen=True)
class ApplicationDecision:
    application_id: int
    approved: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Reservation:
    """A RESERVED permit: what the issuance workflow writes onto the card."""

    permit_number: str
    application_id: int
    card_serial: str
    reserved_at: dt.datetime
    residence_began: dt.date
    issue_date: dt.date
    #: Always ``schedule.first_endorsement_due(residence_began, issue_date)``, as the record
    #: derives it.
    first_endorsement_due: dt.date
    replaces_permit: str | None
    #: Continuity carried over by a replacement (``None``: from ``residence_began``).
    residence_counted_from: dt.date | None = None
    #: The permit's index in the signed status list: its register row id, assigned when it
    #: is reserved (docs/status-list.md); the record's status reference carries it.
    status_index: int | None = None


@dataclass(frozen=True)
class EndorsementRecord:
    permit_number: str
    sequence: int
    endorsed_on: dt.date
    period_start: dt.date
    period_end: dt.date
    late: bool


@dataclass(frozen=True)
class PermitView:
    number: str
    state: PermitState
    card_serial: str
    application_id: int
    residence_began: dt.date
    residence_counted_from: dt.date | None
    issue_date: dt.date
    first_endorsement_due: dt.date
    reserved_at: dt.datetime
    issued_at: dt.datetime | None
    card_locked_at: dt.datetime | None
    closed_at: dt.datetime | None
    mso_digest: str | None
    record_digest: str | None
    replaces_permit: str | None
    revocation_reason: str | None
    revocation_effective_at: dt.datetime | None
    endorsements: tuple[EndorsementView, ...]
    #: The permit's status-list index (its row id).
    status_index: int | None = None

    @classmethod
    def of(
        cls,
        permit: Permit,
        endorsements: tuple[EndorsementView, ...],
        revocation: tuple[str, dt.datetime] | None,
    ) -> PermitView:
        assert permit.id is not None
        return cls(
            number=permit.number,
            state=PermitState(permit.state),
            card_serial=permit.card_serial,
            application_id=permit.application_id,
            residence_began=permit.residence_began,
            residence_counted_from=permit.residence_counted_from,
            issue_date=permit.issue_date,
            first_endorsement_due=permit.first_endorsement_due,
            reserved_at=permit.reserved_at,
            issued_at=permit.issued_at,
            card_locked_at=permit.card_locked_at,
            closed_at=permit.closed_at,
            mso_digest=permit.mso_digest,
            record_digest=permit.record_digest,
            replaces_permit=permit.replaces_permit,
            revocation_reason=None if revocation is None else revocation[0],
            revocation_effective_at=None if revocation is None else revocation[1],
            endorsements=endorsements,
            status_index=permit.id,
        )

    @property
    def lock_pending(self) -> bool:
        """Issued (card read back and verified) but the card not confirmed locked."""
        return self.state is PermitState.ISSUED and self.card_locked_at is None

    def reservation(self) -> Reservation:
        return Reservation(
            self.number,
            self.application_id,
            self.card_serial,
            self.reserved_at,
            self.residence_began,
            self.issue_date,
            self.first_endorsement_due,
            self.replaces_permit,
            self.residence_counted_from,
            self.status_index,
        )


class PermitReader(Protocol):
    """What :func:`permit_history` needs of a register (a :class:`~.service.Register`)."""

    def permit(self, permit_number: str) -> PermitView: ...


@dataclass(frozen=True)
class PermitHistory:
    """One permit as ``permit register show`` prints it: its state, effective state, years
    of residence and endorsement window at one instant.  No personal data: the permit is
    named by number and card serial only.

    ``endorsements`` (the permit's history) is carried for callers that list it; it is not
    part of :meth:`to_json`, which is exactly the summary the CLI has always printed.
    """

    number: str
    state: str
    effective_state: str
    card_serial: str
    issue_date: dt.date
    years_of_residence: int
    residence_counted_from: dt.date
    covered_until: dt.date
    next_due: dt.date
    window_opens: dt.date
    replaces_permit: str | None
    revocation_reason: str | None
    endorsements: tuple[EndorsementView, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON-ready values (dates ISO 8601), keys in display order."""
        return {
            "number": self.number,
            "state": self.state,
            "effective_state": self.effective_state,
            "card_serial": self.card_serial,
            "issue_date": self.issue_date.isoformat(),
            "years_of_residence": self.years_of_residence,
            "residence_counted_from": self.residence_counted_from.isoformat(),
            "covered_until": self.covered_until.isoformat(),
            "next_due": self.next_due.isoformat(),
            "window_opens": self.window_opens.isoformat(),
            "replaces_permit": self.replaces_permit,
            "revocation_reason": self.revocation_reason,
        }


def permit_history(
    register: PermitReader, number: str, now: dt.datetime | None = None
) -> PermitHistory:
    """The permit ``number`` with its history at ``now`` (default: the current time), read
    in one go, so state and schedule come from the same snapshot.

    :class:`~.errors.NotFound` if there is no such permit.
    """
    if now is None:
        now = dt.datetime.now(dt.UTC)
    view = register.permit(number)
    status = permit_residence(view, now)
    return PermitHistory(
        number=view.number,
        state=view.state.value,
        effective_state=effective_state(view, now),
        card_serial=view.card_serial,
        issue_date=view.issue_date,
        years_of_residence=status.years_of_residence,
        residence_counted_from=status.counted_from,
        covered_until=status.covered_until,
        next_due=status.next_due,
        window_opens=status.window_opens,
        replaces_permit=view.replaces_permit,
        revocation_reason=view.revocation_reason,
        endorsements=view.endorsements,
    )


@dataclass(frozen=True)
class PermitFacts:
    """A permit as a verifier checks a presented record against it
    (:meth:`~.service.Register.permit_facts`)."""

    state: PermitState
    issued_at: dt.datetime | None
    mso_digest: str | None
    revocation_effective_at: dt.datetime | None
