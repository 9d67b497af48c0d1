"""What the office's use cases return: domain results, never printed text.

Use cases whose workflow already returns a result (``IssuanceResult``, ``CardVerification``,
``EndorsementResult``, ``ReconcileOutcome``, ``VerificationResult``, ``AuditReport``) return
it as it is; the results below are the office's own.  Every ``to_json`` is safe to show: no
personal data, no key material.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from card_service.audit import AuditReport
from card_service.audit.checkpoint import SignedCheckpoint

__all__ = [
    "AuditReport",
    "AuditSeal",
    "CardTerminated",
    "KeyRotation",
    "KeysInitialised",
    "ReaderStatus",
    "RegisterMigrated",
    "RootRolledOver",
    "SampleRecord",
    "SignerRevoked",
]


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
