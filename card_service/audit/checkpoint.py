"""Signed checkpoints: a key-store signature over one chain entry seals everything before it.

Signed bytes: ``"permit-audit-checkpoint-v1\\n" || {"entry_hash":..,"seq":..,"time":..}``
(canonical JSON as in :mod:`.chain`).  The signer is the key store's current **audit signer**
(:meth:`keys.pki.KeyManager.sign_audit`, which rotates and refreshes the CRL itself; never a
document signer, whose key signs permits only).  Its certificate is stored with the checkpoint
and verified against the trust list with :func:`keys.trust.validate_audit_signer`: chain to a
trusted root valid at the checkpoint time, audit-signing EKU, inside the signing window, not
on the current CRL.  The signature is made outside the chain-head lock: an entry never changes
once written, so signing it later is safe and writers are not blocked by the key store.

Order of writes (docs/register.md, "Witness"): the register row commits first, then the
witness file.  A crash between them leaves a register checkpoint the witness lacks: the
verifier reports it as *not witnessed* (not as tampering) and the next seal writes it.  The
reverse, a witnessed checkpoint missing from the register, can only be tampering.
"""

from __future__ import annotations

import datetime as dt
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
from permit_errors import ErrorKind, PermitError

from .chain import checkpoint_message
from .models import AuditCheckpoint, AuditEvent, AuditHead
from .witness import WitnessConflict, WitnessDir, WitnessedCheckpoint, WitnessError

__all__ = [
    "CheckpointSigner",
    "NotAnAuditSigner",
    "SignedCheckpoint",
    "checkpoint_message",
    "checkpoint_signer_problem",
    "create_checkpoint",
    "maybe_checkpoint",
    "rewitness",
    "verify_checkpoint_signature",
]

log = logging.getLogger(__name__)


class CheckpointSigner(Protocol):
    """What signs checkpoints: :class:`keys.pki.KeyManager` fits (its audit signer).

    The method is ``sign_audit``, not ``sign``: an object that can only make document
    signatures does not type-check as a checkpoint signer.
    """

    def sign_audit(self, data: bytes, now: dt.datetime) -> SignatureResult: ...


class NotAnAuditSigner(PermitError, ValueError):
    """The checkpoint signer returned a certificate without the audit-signing EKU."""

    code = "not_an_audit_signer"
    kind = ErrorKind.CONFIG


@dataclass(frozen=True)
class SignedCheckpoint:
    seq: int
    entry_hash: str
    time: dt.datetime
    signer_id: str


def _last_checkpoint_seq(session: Session) -> int:
    value = session.execute(select(func.max(col(AuditCheckpoint.seq)))).scalar_one_or_none()
    return int(value or 0)


def _db_checkpoint_seqs(engine: Engine) -> set[int]:
    with Session(engine) as session, session.begin():
        return {int(s) for s in session.execute(select(col(AuditCheckpoint.seq))).scalars()}


def rewitness(engine: Engine, witness: WitnessDir) -> list[int]:
    """Bring the witness up to the register before anything is sealed.

    * A checkpoint the witness holds and the register lacks can only come from tampering
      (the register row is always committed before the witness file is written):
      :class:`WitnessConflict`, nothing is sealed over the altered register.
    * A register checkpoint the witness lacks is left by a crash or a failed witness write
      between the two: it is written now, if its signature verifies and its signer is an
      audit signer (an insider's forged row is never copied into the witness).
    Returns the sequence numbers written.
    """
    held = set(witness.seqs())
    in_db = _db_checkpoint_seqs(engine)
    lost = sorted(held - in_db)
    if lost:
        raise WitnessConflict(
            f"the witness holds checkpoint {lost[0]} that the register lacks: "
            "the register was altered; run 'permit audit verify --witness'"
        )
    missing = sorted(in_db - held)
    if not missing:
        return []
    from .rows import Malformed, read_checkpoints

    with Session(engine) as session, session.begin():
        rows = read_checkpoints(session)
    if isinstance(rows, Malformed):
        raise WitnessError(f"cannot re-witness: {rows.reason}")
    written: list[int] = []
    for seq in missing:
        cp = rows[seq]
        try:
            cert = cp.load_certificate()
            good = verify_checkpoint_signature(cert, bytes.fromhex(cp.signature), cp.message())
            good = good and checkpoint_signer_problem(cert, cp.time, None, cp.time) is None
        except ValueError:
            good = False
        if not good:
            log.error("register checkpoint %d does not verify: not copied to the witness", seq)
            continue
        if witness.write(cp):
            written.append(seq)
            log.warning("audit checkpoint %d was not witnessed: written now", seq)
    return written


def _seal(
    engine: Engine,
    signer: CheckpointSigner,
    now: dt.datetime,
    seq: int | None,
    witness: WitnessDir | None,
) -> SignedCheckpoint | None:
    """Seal entry ``seq`` (``None``: the last entry): DB row first, then the witness file."""
    with Session(engine) as session, session.begin():
        head = session.get(AuditHead, 1)
        if head is None or head.seq == 0:
            return None
        seq = head.seq if seq is None else seq
        event = session.get(AuditEvent, seq)
        if event is None or session.get(AuditCheckpoint, seq) is not None:
            return None
        digest = event.entry_hash
    result = signer.sign_audit(checkpoint_message(seq, digest, now), now)
    if certificate_role(result.certificate) is not SignerRole.AUDIT:
        # never store a checkpoint that verification would reject as not sealed by an auditor
        raise NotAnAuditSigner(f"signer {result.signer_id} is not an audit signer")
    pem = result.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    cp = WitnessedCheckpoint(seq, digest, now, result.signer_id, result.signature.hex(), pem)
    try:
        with Session(engine) as session, session.begin():
            session.add(
                AuditCheckpoint(
                    seq=seq,
                    entry_hash=digest,
                    time=now,
                    signer_id=result.signer_id,
                    signature=cp.signature,
                    certificate=pem,
                )
            )
    except IntegrityError:  # another process sealed the same entry first (and witnesses it)
        return None
    log.info("audit checkpoint at seq %d signed by %s", seq, result.signer_id)
    if witness is not None:
        try:
            witness.write(cp)
        except (OSError, WitnessError) as exc:
            log.error("audit checkpoint %d is in the register but NOT witnessed", seq)
            raise WitnessError(
                f"checkpoint {seq} is stored but not witnessed ({type(exc).__name__}: {exc}); "
                "the next checkpoint retries"
            ) from None
    return SignedCheckpoint(seq, digest, now, result.signer_id)


def _catch_up(
    engine: Engine,
    signer: CheckpointSigner,
    every: int,
    now: dt.datetime,
    witness: WitnessDir | None,
) -> SignedCheckpoint | None:
    """Seal every due entry: ``last checkpoint + every``, repeatedly, up to the head.

    Checkpoints therefore never lie more than ``every`` entries apart, which is what the
    verifier requires (a missing one is a failure), even when entries were written by a
    command without the audit key or a seal failed.
    """
    if every < 1:
        raise ValueError("checkpoint_every must be at least 1")
    made: SignedCheckpoint | None = None
    with Session(engine) as session, session.begin():
        head = session.get(AuditHead, 1)
        top, last = (0 if head is None else head.seq), _last_checkpoint_seq(session)
    while top - last >= every:
        last += every
        made = _seal(engine, signer, now, last, witness) or made
    return made


def create_checkpoint(
    engine: Engine,
    signer: CheckpointSigner,
    now: dt.datetime,
    *,
    witness: WitnessDir | None = None,
    every: int | None = None,
) -> SignedCheckpoint | None:
    """Seal the current last entry (``None`` if the log is empty or already sealed there).

    With ``witness``, the witness is first brought up to the register (:func:`rewitness`),
    and every checkpoint made is also written there; with ``every``, due checkpoints that
    are missing are made first.
    """
    now = require_utc(now)
    if witness is not None:
        rewitness(engine, witness)
    if every is not None:
        _catch_up(engine, signer, every, now, witness)
    return _seal(engine, signer, now, None, witness)


def maybe_checkpoint(
    engine: Engine,
    signer: CheckpointSigner,
    every: int,
    now: dt.datetime,
    witness: WitnessDir | None = None,
    *,
    probe: Engine | None = None,
) -> SignedCheckpoint | None:
    """Seal the log when ``every`` or more entries have been appended since the last seal
    (at ``last + every``, repeatedly: see :func:`_catch_up`).

    ``probe``: the engine that asks whether a seal is due (a read-only one, so the question
    that follows every committed write does not queue for the write lock again); only a
    trigger, since :func:`_seal` re-reads the entry and inserts its row under a unique key."""
    now = require_utc(now)
    with Session(probe or engine) as session, session.begin():
        head = session.get(AuditHead, 1)
        due = head is not None and head.seq - _last_checkpoint_seq(session) >= every
    if not due:
        return None
    if witness is not None:
        rewitness(engine, witness)
    return _catch_up(engine, signer, every, now, witness)


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
