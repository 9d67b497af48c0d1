"""What the office's use cases return: domain results, never printed text.

Use cases whose workflow already returns a result (``IssuanceResult``, ``CardVerification``,
``EndorsementResult``, ``ReconcileOutcome``, ``VerificationResult``, ``AuditReport``) return
it as it is; the results below are the office's own.  Every ``to_json`` is safe to show: no
personal data, no key material.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from card_service.audit import AuditReport
from card_service.audit.checkpoint import SignedCheckpoint
from card_service.register.residence import ResidenceStatus
from card_service.register.service import effective_state
from card_service.register.views import PermitView

__all__ = [
    "AuditReport",
    "AuditSeal",
    "CardTerminated",
    "KeyRotation",
    "KeysInitialised",
    "PermitHistory",
    "ReaderStatus",
    "RegisterMigrated",
    "RootRolledOver",
    "SampleRecord",
    "SignerRevoked",
]


@dataclass(frozen=True)
class PermitHistory:
    """One permit as ``permit register show`` reports it: states, replacement and revocation,
    years of residence and the endorsement window at ``now`` (no personal data)."""

    number: str
    state: str
    effective_state: str
    card_serial: str | None
    issue_date: dt.date
    years_of_residence: int
    residence_counted_from: dt.date
    covered_until: dt.date
    next_due: dt.date
    window_opens: dt.date
    replaces_permit: str | None
    revocation_reason: str | None

    @classmethod
    def of(cls, view: PermitView, status: ResidenceStatus, now: dt.datetime) -> PermitHistory:
        return cls(
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
        )

    def to_json(self) -> dict[str, Any]:
        """The fields in order, dates as ISO 8601 text."""
        return {
            key: value.isoformat() if isinstance(value, dt.date) else value
            for key, value in asdict(self).items()
        }


@dataclass(frozen=True)
class CardTerminated:
    card_serial: str


@dataclass(frozen=True)
class RegisterMigrated:
    #: The database URL without its password.
    url: str


@dataclass(frozen=True)
class AuditSeal:
    """``rewitnessed``: entries whose missing witness files were written; ``checkpoint``:
    the checkpoint signed now, ``None`` when there was nothing to seal."""

    rewitnessed: tuple[int, ...]
    checkpoint: SignedCheckpoint | None


@dataclass(frozen=True)
class KeysInitialised:
    directory: Path
    store: str
    root_id: str
    signer_id: str
    audit_signer_id: str


@dataclass(frozen=True)
class KeyRotation:
    """``what``: ``document signer``, ``audit signer`` or ``master key``.  ``unchanged``: the
    current signer is still in its window (``--if-due``)."""

    what: str
    id: str
    unchanged: bool = False
    signing_not_after: dt.datetime | None = None
    kvn: int | None = None


@dataclass(frozen=True)
class SignerRevoked:
    #: ``document signer`` or ``audit signer``.
    what: str
    id: str
    crl_number: int


@dataclass(frozen=True)
class RootRolledOver:
    old_root_id: str
    new_root_id: str
    link_file: str | None
    signer_id: str
    audit_signer_id: str


@dataclass(frozen=True)
class ReaderStatus:
    name: str
    card_present: bool
    atr: bytes | None

    def to_json(self) -> dict[str, Any]:
        return {
            "reader": self.name,
            "card_present": self.card_present,
            "atr": self.atr.hex().upper() if self.atr else None,
        }


@dataclass(frozen=True)
class SampleRecord:
    path: Path
    size: int
    signer_id: str
