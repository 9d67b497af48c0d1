"""Immutable results handed out by the register (no ORM objects escape a transaction)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .models import Permit, PermitState
from .residence import EndorsementView

__all__ = [
    "ApplicantData",
    "ApplicationData",
    "ApplicationDecision",
    "EndorsementRecord",
    "PermitView",
    "Reservation",
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
        )
