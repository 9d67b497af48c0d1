"""Register tables (sqlmodel).  Personal data lives in ``applicant`` and ``application`` only.

Two partial unique indexes are the database-level guarantees the workflows rely on, across
threads and processes:

* ``uq_permit_active_person``: one person (applicant) has at most one RESERVED or ISSUED
  permit;
* ``uq_permit_live_card``: one card serial is bound to at most one RESERVED or ISSUED permit,
  so a card can never be personalised by two requests at once.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from .types import UtcDateTime

__all__ = [
    "LIVE_PERMIT_STATES",
    "ApiClientRecord",
    "Applicant",
    "Application",
    "ApplicationStatus",
    "Basis",
    "Card",
    "CardState",
    "Endorsement",
    "Permit",
    "PermitCounter",
    "PermitState",
    "RegisterMeta",
    "Revocation",
    "RevocationReason",
]


class PermitState(StrEnum):
    RESERVED = "RESERVED"  # number allocated, card bound, issuance pending
    ISSUED = "ISSUED"  # card passed read-back verification and is locked
    REVOKED = "REVOKED"
    ABANDONED = "ABANDONED"  # a rolled-back reservation (no valid card exists)


#: States counted by the partial unique indexes.
LIVE_PERMIT_STATES = (PermitState.RESERVED, PermitState.ISSUED)
_LIVE = "state IN ('RESERVED', 'ISSUED')"


class CardState(StrEnum):
    BLANK = "BLANK"
    PERSONALISING = "PERSONALISING"
    ISSUED = "ISSUED"
    TERMINATED = "TERMINATED"


class ApplicationStatus(StrEnum):
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class Basis(StrEnum):
    """Article 2: one of these, with an evidence reference."""

    EMPLOYMENT = "employment"
    RESIDENCE = "residence"
    STUDY = "study"


class RevocationReason(StrEnum):
    LOST = "lost"
    STOLEN = "stolen"
    CANCELLED = "cancelled"
    REPLACED = "replaced"


class RegisterMeta(SQLModel, table=True):
    """Settings stored with the data (the person-key HMAC secret, created by migration)."""

    __tablename__ = "register_meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_type=Text)


class Applicant(SQLModel, table=True):
    """A person.  ``id_number_hmac`` = HMAC-SHA256(person key, ID number), unique."""

    __tablename__ = "applicant"

    id: int | None = Field(default=None, primary_key=True)
    id_number_hmac: str = Field(max_length=64, unique=True)
    id_number: str = Field(max_length=18)
    name: str = Field(max_length=200)
    birth_date: dt.date
    created_at: dt.datetime = Field(sa_type=UtcDateTime)


class Application(SQLModel, table=True):
    __tablename__ = "application"

    id: int | None = Field(default=None, primary_key=True)
    applicant_id: int = Field(foreign_key="applicant.id", index=True)
    residence_address: str = Field(max_length=400)
    residence_began: dt.date
    basis: str | None = Field(default=None, max_length=16)
    evidence_ref: str | None = Field(default=None, max_length=200)
    portrait_digest: str | None = Field(default=None, max_length=64)
    status: str = Field(max_length=16)
    reasons: str = Field(default="", max_length=400)  # comma-separated reason codes
    submitted_at: dt.datetime = Field(sa_type=UtcDateTime)
    #: Article 11: the permit this application replaces.
    replaces_permit: str | None = Field(default=None, max_length=32)


class PermitCounter(SQLModel, table=True):
    """Next sequence number per (authority, year); locked by ``UPDATE ... RETURNING``."""

    __tablename__ = "permit_counter"

    authority_code: str = Field(primary_key=True, max_length=6)
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last_seq: int = 0


class Card(SQLModel, table=True):
    """A card as the register last saw it."""

    __tablename__ = "card"

    serial: str = Field(primary_key=True, max_length=64)
    state: str = Field(max_length=16)
    updated_at: dt.datetime = Field(sa_type=UtcDateTime)


class Permit(SQLModel, table=True):
    __tablename__ = "permit"
    __table_args__ = (
        Index(
            "uq_permit_active_person",
            "applicant_id",
            unique=True,
            sqlite_where=text(_LIVE),
            postgresql_where=text(_LIVE),
        ),
        Index(
            "uq_permit_live_card",
            "card_serial",
            unique=True,
            sqlite_where=text(_LIVE),
            postgresql_where=text(_LIVE),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=32, unique=True)
    #: Not unique: an abandoned reservation leaves its application free for a retry.
    application_id: int = Field(foreign_key="application.id", index=True)
    applicant_id: int = Field(foreign_key="applicant.id")
    card_serial: str = Field(foreign_key="card.serial", max_length=64, index=True)
    state: str = Field(max_length=16, index=True)
    #: Residence at the address began (as on the card; the application's date).
    residence_began: dt.date
    #: Article 11: continuity carried over from the replaced permit (a late endorsement
    #: there restarted the count); ``None``: counted from ``residence_began``.
    residence_counted_from: dt.date | None = None
    issue_date: dt.date
    first_endorsement_due: dt.date
    reserved_at: dt.datetime = Field(sa_type=UtcDateTime)
    issued_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    #: The card was confirmed locked (life cycle ISSUED).  ISSUED with ``None`` here is
    #: "lock pending": read back and verified, the card not (known to be) locked yet.
    card_locked_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    closed_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    mso_digest: str | None = Field(default=None, max_length=64)
    record_digest: str | None = Field(default=None, max_length=64)
    abandon_reason: str | None = Field(default=None, max_length=64)
    replaces_permit: str | None = Field(default=None, max_length=32)


class Endorsement(SQLModel, table=True):
    __tablename__ = "endorsement"
    __table_args__ = (UniqueConstraint("permit_id", "sequence", name="uq_endorsement_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    permit_id: int = Field(foreign_key="permit.id", index=True)
    sequence: int
    endorsed_on: dt.date
    period_start: dt.date
    period_end: dt.date
    late: bool
    recorded_at: dt.datetime = Field(sa_type=UtcDateTime)


class Revocation(SQLModel, table=True):
    __tablename__ = "revocation"

    id: int | None = Field(default=None, primary_key=True)
    permit_id: int = Field(foreign_key="permit.id", unique=True)
    reason: str = Field(max_length=16)
    effective_at: dt.datetime = Field(sa_type=UtcDateTime)
    recorded_at: dt.datetime = Field(sa_type=UtcDateTime)
    actor: str = Field(max_length=64)


class ApiClientRecord(SQLModel, table=True):
    """A client of the HTTP API (card_service/clients, docs/clients.md).

    ``key_hash`` is SHA-256 of the whole key (the key itself is never stored); ``scope`` the
    comma-separated element identifiers a relying party may receive (empty otherwise).  A
    name is not unique: a key is rotated by creating a client of the same name and revoking
    the old one.
    """

    __tablename__ = "api_client"

    client_id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=100)
    role: str = Field(max_length=16)
    scope: str = Field(default="", max_length=400)
    key_hash: str = Field(max_length=64)
    created_at: dt.datetime = Field(sa_type=UtcDateTime)
    expires_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    created_by: str = Field(max_length=64)
