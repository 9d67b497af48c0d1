"""Audit-only entries: events the register records without changing its state (a
verification done for a relying party).

Every other use case appends its own audit entry inside its transaction
(:func:`card_service.audit.append`, the audit chain head locked last), and
:func:`.store.write` seals the log with a signed checkpoint when one is due
(docs/register.md, "Checkpoints").
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from card_service.audit import append

from .store import Store, write
from .types import require_utc

__all__ = ["record_verification"]


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

    write(store, now, work)
