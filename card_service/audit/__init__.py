"""Tamper-evident audit log: hash-chained entries sealed by signed checkpoints.

See docs/register.md, "Audit log".
"""

from __future__ import annotations

from .chain import GENESIS_HASH, AuditEntry, AuditError, NewEntry, append, append_many, entry_hash
from .checkpoint import (
    CheckpointSigner,
    NotAnAuditSigner,
    SignedCheckpoint,
    create_checkpoint,
    maybe_checkpoint,
    rewitness,
)
from .models import AuditCheckpoint, AuditEvent, AuditHead
from .verify import AuditReport, verify_audit_log
from .witness import (
    WITNESS_DIR_ENV,
    WitnessConflict,
    WitnessDir,
    WitnessedCheckpoint,
    WitnessError,
    witness_dir,
)

__all__ = [
    "GENESIS_HASH",
    "WITNESS_DIR_ENV",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditError",
    "AuditEvent",
    "AuditHead",
    "AuditReport",
    "CheckpointSigner",
    "NewEntry",
    "NotAnAuditSigner",
    "SignedCheckpoint",
    "WitnessConflict",
    "WitnessDir",
    "WitnessError",
    "WitnessedCheckpoint",
    "append",
    "append_many",
    "create_checkpoint",
    "entry_hash",
    "maybe_checkpoint",
    "rewitness",
    "verify_audit_log",
    "witness_dir",
]
