"""Strict reading of the audit tables for the verifier.

The verifier does not trust the ORM to make sense of what an insider wrote: every column is
read raw and parsed no looser than the writer (:mod:`.chain`) writes it.  Anything else is a
:class:`Malformed` value naming the entry and the field, never the value (it could hold
personal data) and never a traceback.  Time is read as text in one exact form per database:
SQLite keeps SQLAlchemy's ``YYYY-MM-DD HH:MM:SS.ffffff`` (naive UTC); PostgreSQL's
``timestamptz`` is rendered in UTC by ``to_char`` (``infinity`` renders as NULL).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, String, func, select, type_coerce
from sqlmodel import Session

from .chain import AuditEntry, field_problem
from .models import AuditCheckpoint, AuditEvent, AuditHead
from .witness import WitnessedCheckpoint, WitnessError, parse_time

__all__ = ["Malformed", "read_checkpoints", "read_entries", "read_head"]

_HASH = re.compile(r"[0-9a-f]{64}")
_SQLITE_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}")
_BATCH = 1000


@dataclass(frozen=True)
class Malformed:
    """Row ``seq`` (of ``table``) has a ``field`` that is not in the written format."""

    table: str
    seq: int
    field: str

    @property
    def reason(self) -> str:
        return f"{self.table} row {self.seq}: field '{self.field}' is malformed"


def _time_column(session: Session, column: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        utc = func.timezone("UTC", column)
        return func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    return type_coerce(column, String)


def _time(session: Session, raw: object) -> dt.datetime | None:
    if not isinstance(raw, str):
        return None
    if session.get_bind().dialect.name != "postgresql":
        if _SQLITE_TIME.fullmatch(raw) is None:
            return None
        raw = raw.replace(" ", "T") + "Z"
    try:
        return parse_time(raw)
    except ValueError:
        return None


def _is_hash(value: object) -> bool:
    return isinstance(value, str) and _HASH.fullmatch(value) is not None


def _is_seq(value: object) -> bool:
    return type(value) is int and value >= 0


def read_entries(session: Session, position: int) -> Iterator[AuditEntry | Malformed]:
    """Every entry in ``seq`` order; a malformed one is yielded as :class:`Malformed`
    (``position`` is the seq expected next, used when ``seq`` itself is garbage)."""
    t = AuditEvent.__table__.c  # type: ignore[attr-defined]
    stmt = (
        select(
            type_coerce(t.seq, String),
            _time_column(session, t.time),
            t.actor,
            t.action,
            t.permit_number,
            t.result,
            t.prev_hash,
            t.entry_hash,
        )
        .order_by(t.seq)
        .execution_options(yield_per=_BATCH)
    )
    for seq, raw_time, actor, action, permit, result, prev, digest in session.execute(stmt):
        if not _is_seq(seq) or seq == 0:
            yield Malformed("audit_event", position, "seq")
            return
        position = seq + 1
        time = _time(session, raw_time)
        if time is None:
            yield Malformed("audit_event", seq, "time")
            return
        problem = field_problem(actor, action, permit, result)
        if problem is not None:
            yield Malformed("audit_event", seq, problem)
            return
        for name, value in (("prev_hash", prev), ("entry_hash", digest)):
            if not _is_hash(value):
                yield Malformed("audit_event", seq, name)
                return
        yield AuditEntry(seq, time, actor, action, permit, result, prev, digest)


def read_head(session: Session) -> tuple[int, str] | Malformed | None:
    """``(seq, entry_hash)`` of the head row, ``None`` if it is missing."""
    t = AuditHead.__table__.c  # type: ignore[attr-defined]
    rows = session.execute(
        select(type_coerce(t.id, String), type_coerce(t.seq, String), t.entry_hash)
    ).all()
    if len(rows) != 1 or rows[0][0] != 1:
        return None if not rows else Malformed("audit_head", 0, "id")
    _, seq, digest = rows[0]
    if not _is_seq(seq):
        return Malformed("audit_head", 0, "seq")
    if not _is_hash(digest):
        return Malformed("audit_head", seq, "entry_hash")
    return int(seq), str(digest)


def read_checkpoints(session: Session) -> dict[int, WitnessedCheckpoint] | Malformed:
    """The register's checkpoint rows, each checked like a witness file's fields."""
    t = AuditCheckpoint.__table__.c  # type: ignore[attr-defined]
    stmt = select(
        type_coerce(t.seq, String),
        t.entry_hash,
        _time_column(session, t.time),
        t.signer_id,
        t.signature,
        t.certificate,
    ).order_by(t.seq)
    found: dict[int, WitnessedCheckpoint] = {}
    for seq, digest, raw_time, signer, signature, pem in session.execute(stmt):
        if not _is_seq(seq) or seq == 0:
            return Malformed("audit_checkpoint", max(found, default=0) + 1, "seq")
        time = _time(session, raw_time)
        if time is None:
            return Malformed("audit_checkpoint", seq, "time")
        fields = (digest, signer, signature, pem)
        if not all(isinstance(v, str) for v in fields):
            return Malformed("audit_checkpoint", seq, "signature")
        cp = WitnessedCheckpoint(seq, str(digest), time, str(signer), str(signature), str(pem))
        try:  # the same strict rules as a witness file
            WitnessedCheckpoint.from_bytes(cp.to_bytes())
        except WitnessError as exc:
            field = str(exc).split("'")[1] if "'" in str(exc) else "row"
            return Malformed("audit_checkpoint", seq, field)
        found[seq] = cp
    return found
