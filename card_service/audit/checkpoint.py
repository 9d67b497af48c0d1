"""Signed checkpoints: a key-store signature over one chain entry seals everything before it.

Signed bytes: ``"permit-audit-checkpoint-v1\\n" || {"entry_hash":..,"seq":..,"time":..}``
(canonical JSON as in :mod:`.chain`).  The signer is the key store's current **audit signer**
(:meth:`keys.pki.KeyManager.sign_audit`, which rotates and refreshes the CRL itself; never a
document signer, whose key signs permits only).  Its certificate is stored with the checkpoint
and verified against the trust list with :func:`keys.trust.validate_audit_signer`: chain to a
trusted root valid at the checkpoint time, audit-signing EKU, inside the signing window, not
on the current CRL.  The signature is made outside the chain-head lock: an entry never changes
once written, so signing it later is safe and writers are not blocked by the key store.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from card_service.register.types import require_utc
from keys.errors import SignerValidationError
from keys.pki import SignatureResult
from keys.profiles import SignerRole
from keys.trust import TrustList, certificate_role

from .chain import canonical_time
from .models import AuditCheckpoint, AuditEvent, AuditHead

__all__ = [
    "CheckpointSigner",
    "NotAnAuditSigner",
    "SignedCheckpoint",
    "checkpoint_message",
    "checkpoint_signer_problem",
    "create_checkpoint",
    "maybe_checkpoint",
    "verify_checkpoint_signature",
]

log = logging.getLogger(__name__)
_DOMAIN = b"permit-audit-checkpoint-v1\n"


class CheckpointSigner(Protocol):
    """What signs checkpoints: :class:`keys.pki.KeyManager` fits (its audit signer).

    The method is ``sign_audit``, not ``sign``: an object that can only make document
    signatures does not type-check as a checkpoint signer.
    """

    def sign_audit(self, data: bytes, now: dt.datetime) -> SignatureResult: ...


class NotAnAuditSigner(ValueError):
    """The checkpoint signer returned a certificate without the audit-signing EKU."""


@dataclass(frozen=True)
class SignedCheckpoint:
    seq: int
    entry_hash: str
    time: dt.datetime
    signer_id: str


def checkpoint_message(seq: int, entry_hash: str, time: dt.datetime) -> bytes:
    body = {"seq": seq, "entry_hash": entry_hash, "time": canonical_time(time)}
    return _DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":")).encode("ascii")


def _last_checkpoint_seq(session: Session) -> int:
    value = session.execute(select(func.max(col(AuditCheckpoint.seq)))).scalar_one_or_none()
    return int(value or 0)


def create_checkpoint(
    engine: Engine, signer: CheckpointSigner, now: dt.datetime
) -> SignedCheckpoint | None:
    """Seal the current last entry (``None`` if the log is empty or already sealed there)."""
    now = require_utc(now)
    with Session(engine) as session, session.begin():
        head = session.get(AuditHead, 1)
        if head is None or head.seq == 0:
            return None
        seq = head.seq
        event = session.get(AuditEvent, seq)
        if event is None or session.get(AuditCheckpoint, seq) is not None:
            return None
        digest = event.entry_hash
    result = signer.sign_audit(checkpoint_message(seq, digest, now), now)
    if certificate_role(result.certificate) is not SignerRole.AUDIT:
        # never store a checkpoint that verification would reject as not sealed by an auditor
        raise NotAnAuditSigner(f"signer {result.signer_id} is not an audit signer")
    pem = result.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    try:
        with Session(engine) as session, session.begin():
            session.add(
                AuditCheckpoint(
                    seq=seq,
                    entry_hash=digest,
                    time=now,
                    signer_id=result.signer_id,
                    signature=result.signature.hex(),
                    certificate=pem,
                )
            )
    except IntegrityError:  # another process sealed the same entry first
        return None
    log.info("audit checkpoint at seq %d signed by %s", seq, result.signer_id)
    return SignedCheckpoint(seq, digest, now, result.signer_id)


def maybe_checkpoint(
    engine: Engine, signer: CheckpointSigner, every: int, now: dt.datetime
) -> SignedCheckpoint | None:
    """Seal the log when ``every`` or more entries have been appended since the last seal."""
    with Session(engine) as session, session.begin():
        head = session.get(AuditHead, 1)
        due = head is not None and head.seq - _last_checkpoint_seq(session) >= every
    return create_checkpoint(engine, signer, now) if due else None


def checkpoint_signer_problem(
    certificate: x509.Certificate, at: dt.datetime, trust: TrustList | None, now: dt.datetime
) -> str | None:
    """Why ``certificate`` may not seal a checkpoint made at ``at`` (``None`` if it may).

    The audit-signing EKU is required even without a trust list (a document signer's
    checkpoint is always bad).  With ``trust``: the chain to a trusted root valid at ``at``,
    the signing window and the CRL current at ``now`` (:func:`keys.trust.validate_audit_signer`).
    """
    if certificate_role(certificate) is not SignerRole.AUDIT:
        return "checkpoint signer is not an audit signer (extendedKeyUsage)"
    if trust is not None:
        try:
            trust.validate_audit_signer([certificate], at=at, now=now)
        except SignerValidationError as exc:
            return f"checkpoint signer not trusted: {exc}"
    return None


def verify_checkpoint_signature(
    certificate: x509.Certificate, signature: bytes, message: bytes
) -> bool:
    """Whether ``signature`` over ``message`` verifies with the certificate's key (the
    signature only: :func:`checkpoint_signer_problem` checks who the signer is)."""
    key = certificate.public_key()
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
            return True
        if isinstance(key, ec.EllipticCurvePublicKey):
            digest: hashes.HashAlgorithm = {384: hashes.SHA384(), 521: hashes.SHA512()}.get(
                key.curve.key_size, hashes.SHA256()
            )
            key.verify(signature, message, ec.ECDSA(digest))
            return True
    except InvalidSignature:
        return False
    return False
