"""Tamper-evident audit log: hash-chained entries sealed by signed checkpoints.

See docs/register.md, "Audit log".
"""

from __future__ import annotations

from .chain import GENESIS_HASH, AuditEntry, AuditError, append, entry_hash
from .checkpoint import (
    CheckpointSigner,
    NotAnAuditSigner,
    SignedCheckpoint,
    create_checkpoint,
    maybe_checkpoint,
)
from .models import AuditCheckpoint, AuditEvent, AuditHead
from .verify import AuditReport, verify_audit_log

__all__ = [
    "GENESIS_HASH",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditError",
    "AuditEvent",
    "AuditHead",
    "AuditReport",
    "CheckpointSigner",
    "NotAnAuditSigner",
    "SignedCheckpoint",
    "append",
    "create_checkpoint",
    "entry_hash",
    "maybe_checkpoint",
    "verify_audit_log",
]
