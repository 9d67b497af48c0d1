"""Checking the whole audit log: chain, head and signed checkpoints.

Detects an edited entry (hash mismatch), a deleted one (gap in ``seq``), an inserted or
reordered one (``prev_hash`` link or hash mismatch), a checkpoint that no longer matches its
entry, whose signature does not verify, whose signer is not an audit signer (a document
signer's checkpoint is bad) or does not validate against the trust list, and a truncated
tail (the head or a checkpoint names an entry that is gone).  Entries after the last
checkpoint are only hash-chained: an insider who rewrites all of them *and* the head cannot
be caught, which is why the report names how many entries are unsealed.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass
from typing import Any

from cryptography import x509
from sqlalchemy import select
from sqlmodel import Session, col

from keys.trust import TrustList

from .chain import GENESIS_HASH, entry_hash
from .checkpoint import (
    checkpoint_message,
    checkpoint_signer_problem,
    verify_checkpoint_signature,
)
from .models import AuditCheckpoint, AuditEvent, AuditHead

__all__ = ["AuditReport", "verify_audit_log"]

log = logging.getLogger(__name__)
_BATCH = 1000


@dataclass(frozen=True)
class AuditReport:
    ok: bool
    entries_checked: int
    first_bad_seq: int | None = None
    reason: str | None = None
    checkpoints_checked: int = 0
    last_checkpoint_seq: int | None = None
    #: Entries after the last checkpoint (chained but not sealed by a signature).
    unsealed_entries: int = 0
    #: False when no trust list was given: signatures and the signers' audit EKU were
    #: checked, their chain to a root and revocation were not.
    signers_trusted: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _bad(checked: int, seq: int, reason: str, **kw: Any) -> AuditReport:
    log.warning("audit log check failed at seq %d: %s", seq, reason)
    return AuditReport(False, checked, seq, reason, **kw)


def verify_audit_log(session: Session, trust: TrustList | None, now: dt.datetime) -> AuditReport:
    """Verify every entry and checkpoint; the first problem found is reported."""
    checkpoints = {c.seq: c for c in session.execute(select(AuditCheckpoint)).scalars()}
    head = session.get(AuditHead, 1)
    if head is None:
        return _bad(0, 0, "the audit chain head row is missing")
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    stmt = select(AuditEvent).order_by(col(AuditEvent.seq)).execution_options(yield_per=_BATCH)
    for event in session.execute(stmt).scalars():
        if event.seq != expected_seq:
            if event.seq > expected_seq:
                return _bad(checked, expected_seq, f"entry {expected_seq} is missing")
            return _bad(checked, event.seq, "entries out of order")  # pragma: no cover
        if event.prev_hash != prev_hash:
            return _bad(checked, event.seq, "prev_hash does not link to the previous entry")
        digest = entry_hash(
            event.seq,
            event.time,
            event.actor,
            event.action,
            event.permit_number,
            event.result,
            event.prev_hash,
        )
        if digest != event.entry_hash:
            return _bad(checked, event.seq, "entry hash mismatch: the entry was modified")
        checked += 1
        prev_hash, expected_seq = digest, expected_seq + 1
    last_seq = expected_seq - 1
    if head.seq != last_seq or (last_seq and head.entry_hash != prev_hash):
        if head.seq > last_seq:
            return _bad(checked, last_seq + 1, f"log truncated: head names entry {head.seq}")
        return _bad(checked, last_seq, "the chain head does not match the last entry")
    verified = 0
    for seq in sorted(checkpoints):
        cp = checkpoints[seq]
        if seq > last_seq:
            return _bad(checked, last_seq + 1, f"log truncated: checkpoint names entry {seq}")
        # the entry hash at seq was verified above; compare with the sealed value
        sealed = _hash_at(session, seq)
        if sealed != cp.entry_hash:
            return _bad(checked, seq, "entry does not match its signed checkpoint")
        problem = _check_signature(cp, trust, now)
        if problem is not None:
            return _bad(checked, seq, problem)
        verified += 1
    last_cp = max(checkpoints) if checkpoints else None
    return AuditReport(
        ok=True,
        entries_checked=checked,
        checkpoints_checked=verified,
        last_checkpoint_seq=last_cp,
        unsealed_entries=last_seq - (last_cp or 0),
        signers_trusted=trust is not None,
    )


def _hash_at(session: Session, seq: int) -> str | None:
    event = session.get(AuditEvent, seq)
    return None if event is None else event.entry_hash


def _check_signature(cp: AuditCheckpoint, trust: TrustList | None, now: dt.datetime) -> str | None:
    try:
        cert = x509.load_pem_x509_certificate(cp.certificate.encode("ascii"))
        signature = bytes.fromhex(cp.signature)
    except ValueError:
        return "checkpoint certificate or signature is unreadable"
    message = checkpoint_message(cp.seq, cp.entry_hash, cp.time)
    if not verify_checkpoint_signature(cert, signature, message):
        return "checkpoint signature does not verify"
    return checkpoint_signer_problem(cert, cp.time, trust, now)
