"""The workflows' own table ``workflow_issuance``: the LOCKING stage the register lacks.

The register's permit goes RESERVED -> ISSUED in :meth:`Register.mark_issued`, which the
workflow calls *after* read-back verification and *before* locking the card.  Between the
two, the card has passed verification but is not locked yet.  This table records that
window so reconciliation can find it: a row in stage ``verified`` is written (with its audit
entry, in one transaction) before ``mark_issued``; stage ``locked`` after the card is
locked.  Every change appends an audit entry in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from card_service.audit import append
from card_service.register.db import transaction

__all__ = [
    "IssuanceStage",
    "TrackedIssuance",
    "ensure_schema",
    "lock_pending",
    "set_stage",
    "tracked",
]

log = logging.getLogger(__name__)

metadata = MetaData()

workflow_issuance = Table(
    "workflow_issuance",
    metadata,
    Column("permit_number", String(32), primary_key=True),
    Column("card_serial", String(64), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("mso_digest", String(64), nullable=False),
    Column("record_digest", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


class IssuanceStage(StrEnum):
    VERIFIED = "verified"  # read back and verified; mark_issued and lock pending
    LOCKED = "locked"  # the card is locked: issuance complete
    ROLLED_BACK = "rolled_back"  # the register abandoned it or the card was replaced


@dataclass(frozen=True)
class TrackedIssuance:
    permit_number: str
    card_serial: str
    stage: IssuanceStage
    mso_digest: str
    record_digest: str
    updated_at: dt.datetime


def ensure_schema(engine: Engine) -> None:
    """Create the table if missing (idempotent; tolerates a concurrent creator)."""
    try:
        metadata.create_all(engine, checkfirst=True)
    except (IntegrityError, OperationalError, ProgrammingError):
        log.info("workflow_issuance created concurrently")
        metadata.create_all(engine, checkfirst=True)


def _row(row: object) -> TrackedIssuance:
    m = row._mapping  # type: ignore[attr-defined]
    return TrackedIssuance(
        m["permit_number"],
        m["card_serial"],
        IssuanceStage(m["stage"]),
        m["mso_digest"],
        m["record_digest"],
        _aware(m["updated_at"]),
    )


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes; the stored values are UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def tracked(engine: Engine, permit_number: str) -> TrackedIssuance | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(workflow_issuance).where(workflow_issuance.c.permit_number == permit_number)
        ).first()
    return None if row is None else _row(row)


def lock_pending(engine: Engine) -> list[TrackedIssuance]:
    """Issuances verified but not confirmed locked (what reconciliation must finish)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(workflow_issuance)
            .where(workflow_issuance.c.stage == IssuanceStage.VERIFIED.value)
            .order_by(workflow_issuance.c.updated_at)
        ).all()
    return [_row(r) for r in rows]


def set_stage(
    engine: Engine,
    permit_number: str,
    stage: IssuanceStage,
    *,
    now: dt.datetime,
    actor: str,
    card_serial: str = "",
    mso_digest: str = "",
    record_digest: str = "",
) -> None:
    """Insert or move the row to ``stage`` and audit it, in one transaction."""
    with transaction(engine) as session:
        existing = session.execute(
            select(workflow_issuance.c.stage)
            .where(workflow_issuance.c.permit_number == permit_number)
            .with_for_update()
        ).first()
        if existing is None:
            session.execute(
                workflow_issuance.insert().values(
                    permit_number=permit_number,
                    card_serial=card_serial,
                    stage=stage.value,
                    mso_digest=mso_digest,
                    record_digest=record_digest,
                    updated_at=now,
                )
            )
        else:
            values: dict[str, object] = {"stage": stage.value, "updated_at": now}
            if mso_digest:
                values.update(
                    mso_digest=mso_digest, record_digest=record_digest, card_serial=card_serial
                )
            session.execute(
                update(workflow_issuance)
                .where(workflow_issuance.c.permit_number == permit_number)
                .values(**values)
            )
        action = {
            IssuanceStage.VERIFIED: "card.verify",
            IssuanceStage.LOCKED: "card.lock",
            IssuanceStage.ROLLED_BACK: "issuance.rollback",
        }[stage]
        append(
            session, actor=actor, action=action, result="ok", now=now, permit_number=permit_number
        )
