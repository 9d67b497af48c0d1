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
transaction, then hands over to the next waiting caller - also when the leader's thread is
interrupted (a BaseException: its group fails, a group that may have reached the COMMIT
stays in doubt, see below).  A failed transaction fails every entry of its group
(:class:`AuditNotRecorded`): none is dropped silently.

**Commit in doubt.**  A failure *during* the COMMIT (the connection lost, the server
crashed) leaves the outcome unknown: the entries may be in the log.  The leader then asks
the database on a fresh connection (:func:`_settle`: the chain head locked, so the doubtful
transaction has ended, and the group's first and last entries looked up by ``seq`` and
``entry_hash``): present, the callers are answered as committed; absent, they get
:class:`AuditNotRecorded`.  Nothing is ever appended again (no retry, no double entry).  If
that check cannot run either, the callers get :class:`AuditNotRecorded` and the group is
kept *in doubt*: the next group's transaction settles it under the head lock and, if its
entries were committed after all, appends an ``audit.in_doubt`` entry naming their ``seq``
range (their callers were answered 503), so the log itself records the mismatch.  A group
still in doubt when the process ends is named in a WARNING (``seq`` range and hashes only)
for reconciliation by hand (docs/register.md, "Audit log").
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select, text
from sqlmodel import Session, col

from card_service.audit import (
    AuditEntry,
    AuditError,
    AuditEvent,
    AuditHead,
    NewEntry,
    append,
    append_many,
)
from card_service.audit.chain import field_problem
from permit_errors import ErrorKind

from .db import transaction
from .errors import RegisterError
from .store import Store, write
from .types import require_utc

__all__ = [
    "IN_DOUBT_ACTION",
    "IN_DOUBT_ACTOR",
    "MAX_GROUP",
    "AuditNotRecorded",
    "GroupCommit",
    "record_verification",
]

log = logging.getLogger(__name__)

#: At most this many entries in one transaction (unless one caller's batch alone has more:
#: a caller's entries are never split).
MAX_GROUP = 256
#: The entry that records a group committed although its callers were answered 503.
IN_DOUBT_ACTOR = "permit:group-commit"
IN_DOUBT_ACTION = "audit.in_doubt"
#: How long the in-doubt check waits for the chain head (PostgreSQL; SQLite's busy timeout).
IN_DOUBT_LOCK_TIMEOUT_MS = 5000


class AuditNotRecorded(RegisterError):
    """The transaction that held this audit entry did not commit, or whether it did is not
    known yet (``cause``: the failure's class name, never its text)."""

    code = "audit_not_recorded"
    kind = ErrorKind.UNAVAILABLE

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


@dataclass(eq=False)
class _Queued:
    """One caller's entries (a batch of verifications is one caller: one wake-up)."""

    entries: list[NewEntry]
    wake: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    failure: str | None = None
    #: Made the next leader (set under the lock, with its wake-up).
    promoted: bool = False


@dataclass(eq=False)
class _InDoubt:
    """A group whose commit outcome is unknown; ``carried``: earlier in-doubt groups found
    committed whose ``audit.in_doubt`` entry travelled in this group's transaction."""

    made: list[AuditEntry]
    carried: list[_InDoubt] = field(default_factory=list)

    @property
    def span(self) -> str:
        return f"{self.made[0].seq}-{self.made[-1].seq}"


def _present(session: Session, made: list[AuditEntry]) -> bool:
    """Whether the group ``made`` is in the log, asked under the chain head's lock (so the
    transaction that wrote it has ended: committed or rolled back for good)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL lock_timeout = {IN_DOUBT_LOCK_TIMEOUT_MS}"))
    # FOR UPDATE on PostgreSQL; on SQLite the transaction holds the write lock already
    session.execute(select(col(AuditHead.seq)).where(col(AuditHead.id) == 1).with_for_update())
    ends = {made[0].seq: made[0].entry_hash, made[-1].seq: made[-1].entry_hash}
    rows = session.execute(
        select(col(AuditEvent.seq), col(AuditEvent.entry_hash)).where(
            col(AuditEvent.seq).in_(list(ends))
        )
    ).all()
    found = {int(seq): str(digest) for seq, digest in rows}
    return found == ends  # a group commits whole: both ends, or neither is ours


def _settle(store: Store, made: list[AuditEntry]) -> bool:
    """:func:`_present` in a transaction of its own (a fresh connection from the pool, which
    pre-pings on PostgreSQL and has dropped the broken one)."""
    with transaction(store.engine) as session:
        return _present(session, made)


class GroupCommit:
    """Audit-only entries of many threads, committed in groups (see the module text)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._queue: list[_Queued] = []
        self._leading = False
        #: Groups whose commit outcome is still unknown (settled by the next leader).
        self._in_doubt: list[_InDoubt] = []
        #: Entries committed and transactions used (for tests and benchmarks).
        self.entries = 0
        self.commits = 0

    @property
    def in_doubt(self) -> int:
        """How many groups are still in doubt."""
        return len(self._in_doubt)

    def append(self, entry: NewEntry) -> None:
        """Queue ``entry``; return once it is committed, else raise :class:`AuditNotRecorded`."""
        failure = self.append_all([entry])[0]
        if failure is not None:
            raise AuditNotRecorded(f"the audit entry was not recorded ({failure})", failure)

    def append_all(self, entries: Sequence[NewEntry]) -> list[str | None]:
        """Queue ``entries`` (one caller's batch, in order); return once each is settled:
        for each, ``None`` once committed, else the failure's class name (its group's).

        An entry of invalid shape is refused alone (:class:`~card_service.audit.AuditError`
        before anything is queued), so it cannot fail anybody else's group."""
        for entry in entries:
            require_utc(entry.now)
            bad = field_problem(entry.actor, entry.action, entry.permit_number, entry.result)
            if bad is not None:
                raise AuditError(f"audit {bad} has an invalid shape")
        if not entries:
            return []
        mine = _Queued(list(entries))
        with self._lock:
            self._queue.append(mine)
            lead = not self._leading
            self._leading = True
        if not lead:
            try:
                mine.wake.wait()  # committed by a leader, or promoted to lead
            except BaseException:  # interrupted while it waits: out of the queue
                self._withdraw(mine)
                raise
        if not mine.done:
            self._lead()
        return [mine.failure] * len(entries)

    def _withdraw(self, mine: _Queued) -> None:
        """A caller interrupted while it waits leaves the queue (its entries are not
        written); if it had just been made the next leader, the lead goes on to the caller
        after it, else nobody would ever lead again.  A caller already in a leader's group
        is left to that leader."""
        with self._lock:
            self._queue = [queued for queued in self._queue if queued is not mine]
            if mine.promoted and not mine.done:
                self._promote_next()

    def _promote_next(self) -> None:
        """Under the lock: the first queued caller leads next (or nobody is leading)."""
        following = self._queue[0] if self._queue else None
        self._leading = following is not None
        if following is not None:
            following.promoted = True
            following.wake.set()  # the next group's leader

    def _lead(self) -> None:
        with self._lock:
            group: list[_Queued] = []
            size = 0
            while self._queue and (not group or size + len(self._queue[0].entries) <= MAX_GROUP):
                queued = self._queue.pop(0)
                group.append(queued)
                size += len(queued.entries)
        failure: str | None = None
        try:
            failure = self._commit([entry for queued in group for entry in queued.entries])
        except BaseException as exc:  # interrupted (no Exception): the group fails, and
            failure = type(exc).__name__  # the lead is handed over all the same
            raise
        finally:
            for queued in group:
                queued.failure, queued.done = failure, True
            with self._lock:
                if failure is None:
                    self.entries += sum(len(queued.entries) for queued in group)
                    self.commits += 1
                self._promote_next()  # under the lock: a withdrawing caller sees it
            for queued in group:
                queued.wake.set()

    def _commit(self, entries: list[NewEntry]) -> str | None:
        """Commit ``entries`` (settling earlier in-doubt groups first); the failure's class
        name, or ``None`` once they are known to be committed.  Only the leader runs this."""
        now = max(e.now for e in entries)
        doubtful, self._in_doubt = self._in_doubt, []
        carried: list[_InDoubt] = []
        made: list[AuditEntry] = []

        def work(session: Session) -> None:
            carried.clear()

            def visit(item: _InDoubt) -> None:
                if _present(session, item.made):
                    carried.append(item)  # its own carried ones were recorded with it
                else:  # rolled back for good, and the follow-ups it carried with it
                    for earlier in item.carried:
                        visit(earlier)

            for item in doubtful:
                visit(item)
            follow_ups = [_follow_up(item, now) for item in carried]
            made[:] = append_many(session, follow_ups + entries)

        try:
            write(self.store, now, work)
        except Exception as exc:
            failure = type(exc).__name__
            if not made:  # failed before the COMMIT: rolled back, nothing written
                self._in_doubt = doubtful + self._in_doubt
                return failure
            return self._after_commit_failure(made, carried, failure)
        except BaseException as exc:  # interrupted: nothing is asked now, nothing is lost
            if made:  # it may have reached the COMMIT: in doubt, with what it carried
                item = _InDoubt(made, list(carried))
                self._in_doubt = [item]
                log.warning(
                    "audit group seq %s in doubt (interrupted: %s); entry hashes %s..%s",
                    item.span,
                    type(exc).__name__,
                    made[0].entry_hash,
                    made[-1].entry_hash,
                )
            else:
                self._in_doubt = doubtful + self._in_doubt
            raise
        self._settled(carried)
        return None

    def _after_commit_failure(
        self,
        made: list[AuditEntry],
        carried: list[_InDoubt],
        failure: str,
    ) -> str | None:
        """The COMMIT of ``made`` failed: whether it happened is asked on a fresh
        connection (see the module text)."""
        try:
            present = _settle(self.store, made)
        except Exception as exc:
            # the groups found absent are final; those found committed ride with this one
            item = _InDoubt(made, carried)
            self._in_doubt = [item]
            log.warning(
                "audit group seq %s in doubt (commit failed: %s; check failed: %s); "
                "entry hashes %s..%s",
                item.span,
                failure,
                type(exc).__name__,
                made[0].entry_hash,
                made[-1].entry_hash,
            )
            return failure
        if present:
            log.warning("audit group seq %s committed despite %s", _span(made), failure)
            self._settled(carried)
            return None
        log.warning("audit group seq %s not committed (%s)", _span(made), failure)
        self._in_doubt = carried  # their follow-ups were rolled back with the group
        return failure

    def _settled(self, carried: list[_InDoubt]) -> None:
        for item in carried:
            log.warning("audit group seq %s was committed; recorded as in doubt", item.span)


def _span(made: list[AuditEntry]) -> str:
    return f"{made[0].seq}-{made[-1].seq}"


def _follow_up(item: _InDoubt, now: dt.datetime) -> NewEntry:
    """The ``audit.in_doubt`` entry for a group found committed after its callers got 503."""
    return NewEntry(IN_DOUBT_ACTOR, IN_DOUBT_ACTION, f"committed,answered=503,seq={item.span}", now)


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
