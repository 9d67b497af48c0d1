"""Read-only use cases the HTTP service offers auditors, verifiers and counters: pages of
the audit log, the witnessed checkpoints, the trust list as one document, and the readers'
card events.

Nothing here writes: the audit reads open a session on the register, the trust document
reads the key directory's public files (no passphrase or PIN: the CRL is served as it
stands, reissued by the use cases that hold the store), the reader events come from the
card seam's driver.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from card_service.audit import AuditReport, WitnessDir
from card_service.audit.models import AuditEvent
from keys.errors import KeyStoreError
from keys.export import trust_bundle

from .admin import AdminUseCases
from .errors import RequestInvalid, TrustUnavailable

__all__ = [
    "AUDIT_PAGE_MAX",
    "AuditEntry",
    "MonitoringUseCases",
    "ReaderChange",
    "TrustDocument",
    "WitnessedCheckpointView",
]

log = logging.getLogger(__name__)

#: The most entries (or checkpoints) one page of the audit log holds.
AUDIT_PAGE_MAX = 1000


@dataclass(frozen=True)
class AuditEntry:
    """One audit entry as stored: actor, action, permit number, result, time and the chain
    hashes - never a name, ID number, address or portrait (card_service/audit/models.py)."""

    seq: int
    time: dt.datetime
    actor: str
    action: str
    permit_number: str | None
    result: str
    prev_hash: str
    entry_hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "permit_number": self.permit_number,
            "result": self.result,
            "prev_hash": self.prev_hash,
            "entry_hash": self.entry_hash,
        }


@dataclass(frozen=True)
class WitnessedCheckpointView:
    """A signed checkpoint as the witness directory holds it; ``document`` is the witness
    file's exact canonical JSON (what an external auditor pins and re-verifies)."""

    seq: int
    entry_hash: str
    time: dt.datetime
    signer_id: str
    signature: str
    certificate: str
    document: str


@dataclass(frozen=True)
class TrustDocument:
    """The trust list of ``permit keys export-trust``: its manifest and the PEM files the
    manifest names; ``crl_next_update`` bounds how long a copy may be cached."""

    manifest: dict[str, Any]
    files: dict[str, str]
    crl_next_update: dt.datetime | None

    def max_age(self, now: dt.datetime, cap: int) -> int:
        """Seconds a copy taken at ``now`` may be cached: until the CRL's next update, at
        most ``cap``; 0 once the CRL is due (or when there is none)."""
        if self.crl_next_update is None:
            return 0
        left = int((self.crl_next_update - now).total_seconds())
        return max(0, min(left, cap))


@dataclass(frozen=True)
class ReaderChange:
    """A card inserted or removed, a reader added or removed (``kind``: the driver's event
    kind value); ``atr`` (hex) for an inserted card."""

    reader: str
    kind: str
    atr: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"reader": self.reader, "kind": self.kind, "atr": self.atr}


def _page(after: int, limit: int) -> None:
    if after < 0:
        raise RequestInvalid("after must not be negative")
    if not 1 <= limit <= AUDIT_PAGE_MAX:
        raise RequestInvalid(f"limit must be between 1 and {AUDIT_PAGE_MAX}")


class MonitoringUseCases(AdminUseCases):
    """Audit reads, the trust document and reader events (mixed into
    :class:`~.office.Office`)."""

    def audit_entries(self, *, after: int = 0, limit: int = 100) -> list[AuditEntry]:
        """Up to ``limit`` (at most :data:`AUDIT_PAGE_MAX`) entries with ``seq > after``,
        in order; the next page starts after the last ``seq``."""
        _page(after, limit)
        engine = self.engine
        with self.database("cannot read the audit log ({name})"), Session(engine) as session:
            query = (
                select(AuditEvent)
                .where(col(AuditEvent.seq) > after)
                .order_by(col(AuditEvent.seq))
                .limit(limit)
            )
            return [
                AuditEntry(
                    seq=row.seq,
                    time=row.time,
                    actor=row.actor,
                    action=row.action,
                    permit_number=row.permit_number,
                    result=row.result,
                    prev_hash=row.prev_hash,
                    entry_hash=row.entry_hash,
                )
                for row in session.exec(query)
            ]

    def audit_checkpoints(
        self, *, after: int = 0, limit: int = 100
    ) -> list[WitnessedCheckpointView]:
        """The witnessed checkpoints (the configured witness directory) with ``seq >
        after``, up to ``limit``; none before the first seal.  A file that is not a
        well-formed checkpoint is a ``WitnessError`` (an integrity failure)."""
        _page(after, limit)
        witness = WitnessDir(self.settings.witness_dir())
        found = []
        for seq in [s for s in witness.seqs() if s > after][:limit]:
            cp = witness.read(seq)
            found.append(
                WitnessedCheckpointView(
                    seq=cp.seq,
                    entry_hash=cp.entry_hash,
                    time=cp.time,
                    signer_id=cp.signer_id,
                    signature=cp.signature,
                    certificate=cp.certificate,
                    document=cp.to_bytes().decode("ascii"),
                )
            )
        return found

    def audit_verification(self, now: dt.datetime) -> AuditReport:
        """:meth:`~.admin.AdminUseCases.audit_verify` as an auditor asks for it over the
        API: the local trust list, the configured cadence and the configured witness
        directory - once it exists (it is made by the first checkpoint; before, the report
        says ``witness_checked: false``)."""
        directory = self.settings.witness_dir()
        return self.audit_verify(now, configured_witness=directory.is_dir())

    def trust_document(self, now: dt.datetime) -> TrustDocument:
        """The local trust list as ``permit keys export-trust`` writes it, read from the key
        directory's public files only (no passphrase or PIN; the CRL is not reissued here)."""
        manager = self.key_manager()
        if not manager.initialised():
            raise TrustUnavailable("no keys: run 'permit keys init' first")
        try:
            bundle = trust_bundle(manager, now, refresh=False)
        except KeyStoreError:
            raise
        except OSError as exc:
            raise TrustUnavailable(f"cannot read the trust list ({type(exc).__name__})") from None
        crl = manager.registry.crl
        return TrustDocument(
            manifest=bundle.manifest,
            files={name: data.decode("ascii") for name, data in bundle.files.items()},
            crl_next_update=None if crl is None else crl.next_update,
        )

    def reader_events(self, timeout: float) -> list[ReaderChange]:
        """Block up to ``timeout`` seconds for card and reader events of the card seam's
        driver; the events since the previous call (one consumer: fan out above this)."""
        events = self.cards.driver.wait_for_events(timeout)
        return [
            ReaderChange(e.reader, e.kind.value, e.atr.hex().upper() if e.atr else None)
            for e in events
        ]
