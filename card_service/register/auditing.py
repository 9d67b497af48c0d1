"""Audit-only entries: events the register records without changing its state (a
verification done for a relying party).

Every other use case appends its own audit entry inside its transaction
(:func:`card_service.audit.append`, the audit chain head locked last), and
:func:`.store.write` seals the log with a signed checkpoint when one is due
(docs/register.md, "Checkpoints").

Verifications come in bursts from many threads (the HTTP service's relying parties), and
their entries change nothing else, so they are committed in groups (:class:`GroupCommit`):
each caller queues its entry and returns only once the transaction holding it has
committed; one caller at a time (the leader) commits everything queued so far in one
transaction, then hands over to the next waiting caller.  A failed commit fails every
entry of its group (:class:`AuditNotRecorded`): none is dropped silently.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field

from sqlmodel import Session

from card_service.audit import AuditError, NewEntry, append, append_many
from card_service.audit.chain import field_problem
from permit_errors import ErrorKind

from .errors import RegisterError
from .store import Store, write
from .types import require_utc

__all__ = ["MAX_GROUP", "AuditNotRecorded", "GroupCommit", "record_verification"]

#: At most this many entries in one transaction.
MAX_GROUP = 256


class AuditNotRecorded(RegisterError):
    """The transaction that held this audit entry did not commit (``cause``: the
    failure's class name, never its text)."""

    code = "audit_not_recorded"
    kind = ErrorKind.UNAVAILABLE

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


@dataclass(eq=False)
class _Queued:
    entry: NewEntry
    wake: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    failure: str | None = None


class GroupCommit:
    """Audit-only entries of many threads, committed in groups (see the module text)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._queue: list[_Queued] = []
        self._leading = False
        #: Entries committed and transactions used (for tests and benchmarks).
        self.entries = 0
        self.commits = 0

    def append(self, entry: NewEntry) -> None:
        """Queue ``entry``; return once it is committed, else raise :class:`AuditNotRecorded`."""
        require_utc(entry.now)
        bad = field_problem(entry.actor, entry.action, entry.permit_number, entry.result)
        if bad is not None:  # refused alone, before it could fail anybody else's group
            raise AuditError(f"audit {bad} has an invalid shape")
        mine = _Queued(entry)
        with self._lock:
            self._queue.append(mine)
            lead = not self._leading
            self._leading = True
        if not lead:
            mine.wake.wait()  # committed by a leader, or promoted to lead
        if not mine.done:
            self._lead()
        if mine.failure is not None:
            raise AuditNotRecorded(
                f"the audit entry was not recorded ({mine.failure})", mine.failure
            )

    def _lead(self) -> None:
        with self._lock:
            group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
        failure = None
        try:
            entries = [q.entry for q in group]
            write(self.store, max(e.now for e in entries), lambda s: append_many(s, entries))
        except Exception as exc:
            failure = type(exc).__name__
        for queued in group:
            queued.failure, queued.done = failure, True
        with self._lock:
            if failure is None:
                self.entries += len(group)
                self.commits += 1
            following = self._queue[0] if self._queue else None
            self._leading = following is not None
        for queued in group:
            queued.wake.set()
        if following is not None:
            following.wake.set()  # the next group's leader


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
