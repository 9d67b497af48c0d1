"""The register's glue to the audit log: sealing after a write, and audit-only entries.

Each use case appends its own audit entry inside its transaction
(:func:`card_service.audit.append`, the audit chain head locked last); what lives here is what
happens *around* those transactions: the signed checkpoint that seals the log every
``checkpoint_every`` entries (docs/register.md, "Checkpoints"), and entries that record an
event without changing the register (a verification done for a relying party).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from sqlmodel import Session

from card_service.audit import append, maybe_checkpoint

from .types import require_utc

if TYPE_CHECKING:
    from .store import Store

__all__ = ["record_verification", "seal_if_due"]

log = logging.getLogger(__name__)


def seal_if_due(store: Store, now: dt.datetime) -> None:
    """After a committed write: sign a checkpoint if one is due (and a signer is set).

    A failure is logged, never raised: the state change stands, the chain is intact, and the
    next write retries the seal.
    """
    if store.checkpoint_signer is None:
        return
    try:
        maybe_checkpoint(
            store.engine,
            store.checkpoint_signer,
            store.checkpoint_every,
            now,
            store.checkpoint_witness,
        )
    except Exception:  # the chain is intact; the next write retries the seal
        log.exception("audit checkpoint failed")


def record_verification(
    store: Store, permit_number: str | None, result: str, actor: str, now: dt.datetime
) -> None:
    """Audit a verification done for a relying party (``result`` is a short code)."""
    now = require_utc(now)

    def work(session: Session) -> None:
        append(
            session,
            actor=actor,
            action="permit.verify",
            result=result,
            now=now,
            permit_number=permit_number,
        )

    store.write(now, work)
