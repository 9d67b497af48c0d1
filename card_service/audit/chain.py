"""Appending to the hash chain.

``entry_hash = SHA-256("permit-audit-v1\\n" || canonical JSON of the entry)`` where the JSON
has sorted keys, no spaces, and the fields ``seq``, ``time`` (ISO 8601 UTC with
microseconds, ``Z``), ``actor``, ``action``, ``permit_number`` (or null), ``result`` and
``prev_hash``; the first entry's ``prev_hash`` is 64 zeros.

:func:`append` runs inside the caller's transaction, so a state change and its entry commit
or roll back together.  It bumps the single ``audit_head`` row with
``UPDATE ... RETURNING``, which holds that row's lock until commit (PostgreSQL) or runs under
the ``BEGIN IMMEDIATE`` write lock (SQLite): concurrent writers queue and never fork the chain.
:func:`append_many` appends several entries the same way with one head update (a group
commit of audit-only entries, :mod:`card_service.register.auditing`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass

from sqlalchemy import Table, bindparam, insert, update
from sqlmodel import Session, col

from card_service.register.types import require_utc
from permit_errors import ErrorKind, PermitError

from .models import AuditEvent, AuditHead

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditError",
    "NewEntry",
    "append",
    "append_many",
    "canonical_time",
    "checkpoint_message",
    "entry_hash",
    "field_problem",
    "is_permit_number",
]

GENESIS_HASH = "0" * 64
_DOMAIN = b"permit-audit-v1\n"
_CHECKPOINT_DOMAIN = b"permit-audit-checkpoint-v1\n"

_ACTOR = re.compile(r"[A-Za-z0-9_.:@-]{1,64}")
_ACTION = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_RESULT = re.compile(r"[A-Za-z0-9_.:,=+-]{0,200}")
_PERMIT = re.compile(r"[0-9A-Z]{1,32}")
#: An 18-character citizen ID number must never appear in a result.
_ID_SHAPE = re.compile(r"\d{17}[\dX]")


def is_permit_number(value: str) -> bool:
    """Whether ``value`` has the shape the log accepts for a permit number."""
    return _PERMIT.fullmatch(value) is not None


class AuditError(PermitError, ValueError):
    """An audit entry was refused (bad field shape) or the chain head is missing."""

    code = "audit_invalid"
    kind = ErrorKind.INTEGRITY


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    time: dt.datetime
    actor: str
    action: str
    permit_number: str | None
    result: str
    prev_hash: str
    entry_hash: str


def canonical_time(value: dt.datetime) -> str:
    return require_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    seq: int,
    time: dt.datetime,
    actor: str,
    action: str,
    permit_number: str | None,
    result: str,
    prev_hash: str,
) -> str:
    body = {
        "seq": seq,
        "time": canonical_time(time),
        "actor": actor,
        "action": action,
        "permit_number": permit_number,
        "result": result,
        "prev_hash": prev_hash,
    }
    encoded = _CANONICAL.encode(body)
    return hashlib.sha256(_DOMAIN + encoded.encode("ascii")).hexdigest()


#: The canonical JSON of an entry (what ``json.dumps(body, sort_keys=True,
#: separators=(",", ":"), ensure_ascii=True)`` gives), its encoder made once.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def checkpoint_message(seq: int, entry_hash: str, time: dt.datetime) -> bytes:
    """The bytes a checkpoint signature is over (see :mod:`.checkpoint`)."""
    body = {"seq": seq, "entry_hash": entry_hash, "time": canonical_time(time)}
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return _CHECKPOINT_DOMAIN + encoded.encode("ascii")


def field_problem(
    actor: object, action: object, permit_number: object, result: object
) -> str | None:
    """The name of the first field that has not the shape :func:`append` allows (or None).

    The verifier applies exactly these rules to what it reads back: no looser than the writer.
    """
    if not isinstance(actor, str) or not _ACTOR.fullmatch(actor):
        return "actor"
    if not isinstance(action, str) or not _ACTION.fullmatch(action):
        return "action"
    if permit_number is not None and (
        not isinstance(permit_number, str) or not _PERMIT.fullmatch(permit_number)
    ):
        return "permit_number"
    if not isinstance(result, str) or not _RESULT.fullmatch(result) or _ID_SHAPE.search(result):
        return "result"
    return None


def _check_fields(actor: str, action: str, permit_number: str | None, result: str) -> None:
    """Refuse free text: the fields are identifiers and codes, never personal data."""
    if not _ACTOR.fullmatch(actor):
        raise AuditError("audit actor must be 1-64 characters of [A-Za-z0-9_.:@-]")
    if not _ACTION.fullmatch(action):
        raise AuditError("audit action must be a lower-case code like 'permit.reserve'")
    if permit_number is not None and not _PERMIT.fullmatch(permit_number):
        raise AuditError("audit permit number has an invalid shape")
    if not _RESULT.fullmatch(result) or _ID_SHAPE.search(result):
        raise AuditError("audit result must be a short code (no free text, no ID numbers)")


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    result: str,
    now: dt.datetime,
    permit_number: str | None = None,
) -> AuditEntry:
    """Append one entry in the session's current transaction (the caller commits)."""
    _check_fields(actor, action, permit_number, result)
    # Microseconds are kept; the value read back from either database hashes identically.
    time = require_utc(now)
    row = session.execute(
        update(AuditHead)
        .where(col(AuditHead.id) == 1)
        .values(seq=col(AuditHead.seq) + 1)
        .returning(col(AuditHead.seq), col(AuditHead.entry_hash))
    ).one_or_none()
    if row is None:
        raise AuditError("the audit chain head is missing: run the register migrations")
    seq, prev_hash = int(row[0]), str(row[1])
    digest = entry_hash(seq, time, actor, action, permit_number, result, prev_hash)
    # Core statements, not the ORM unit of work: three appends per issuance are on the
    # issuing desk's hot path (bench/issuance.py).  On PostgreSQL the insert and the head
    # update travel as one statement (a data-modifying CTE): one round trip fewer.
    event = insert(AuditEvent).values(
        seq=seq,
        time=time,
        actor=actor,
        action=action,
        permit_number=permit_number,
        result=result,
        prev_hash=prev_hash,
        entry_hash=digest,
    )
    head = update(AuditHead).where(col(AuditHead.id) == 1).values(entry_hash=digest)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(head.add_cte(event.cte("audit_insert")))
    else:
        session.execute(event)
        session.execute(head)
    return AuditEntry(seq, time, actor, action, permit_number, result, prev_hash, digest)


#: :func:`append_many`'s statements (Core, on the chain's tables).
_HEAD_TABLE: Table = AuditHead.__table__  # type: ignore[attr-defined]
_EVENT_TABLE: Table = AuditEvent.__table__  # type: ignore[attr-defined]
_BUMP_HEAD = (
    update(_HEAD_TABLE)
    .where(_HEAD_TABLE.c.id == 1)
    .values(seq=_HEAD_TABLE.c.seq + bindparam("count"))
    .returning(_HEAD_TABLE.c.seq, _HEAD_TABLE.c.entry_hash)
)
_INSERT_EVENT = insert(_EVENT_TABLE)
_SET_HEAD_HASH = (
    update(_HEAD_TABLE).where(_HEAD_TABLE.c.id == 1).values(entry_hash=bindparam("head_hash"))
)


@dataclass(frozen=True)
class NewEntry:
    """The fields of an entry to append (:func:`append_many`)."""

    actor: str
    action: str
    result: str
    now: dt.datetime
    permit_number: str | None = None


def append_many(session: Session, entries: list[NewEntry]) -> list[AuditEntry]:
    """Append ``entries`` in order in the session's current transaction (the caller
    commits): the head is bumped once by their number, the rows are inserted in one
    statement.  Every entry is checked before anything is written."""
    if not entries:
        return []
    for e in entries:
        _check_fields(e.actor, e.action, e.permit_number, e.result)
    times = [require_utc(e.now) for e in entries]
    # Core on the session's connection, statements built once: the group commit of the
    # relying parties' verifications runs this several hundred times a second.
    connection = session.connection()
    row = connection.execute(_BUMP_HEAD, {"count": len(entries)}).one_or_none()
    if row is None:
        raise AuditError("the audit chain head is missing: run the register migrations")
    seq, prev_hash = int(row[0]) - len(entries), str(row[1])
    made: list[AuditEntry] = []
    for e, time in zip(entries, times, strict=True):
        seq += 1
        digest = entry_hash(seq, time, e.actor, e.action, e.permit_number, e.result, prev_hash)
        made.append(
            AuditEntry(seq, time, e.actor, e.action, e.permit_number, e.result, prev_hash, digest)
        )
        prev_hash = digest
    connection.execute(
        _INSERT_EVENT,
        [
            {
                "seq": m.seq,
                "time": m.time,
                "actor": m.actor,
                "action": m.action,
                "permit_number": m.permit_number,
                "result": m.result,
                "prev_hash": m.prev_hash,
                "entry_hash": m.entry_hash,
            }
            for m in made
        ],
    )
    connection.execute(_SET_HEAD_HASH, {"head_hash": made[-1].entry_hash})
    return made
