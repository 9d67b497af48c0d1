"""A group commit whose COMMIT fails with its outcome unknown (register.auditing, "Commit in
doubt"): the failure is injected at the DB-API commit, after the commit reached the
database or before it did; the group is then settled on a fresh connection (present:
committed; absent: 503), or, when that check cannot run either, kept in doubt and recorded
by an ``audit.in_doubt`` entry once found committed.  Never an entry twice, never one lost,
and the chain verifies in every case.  On SQLite and PostgreSQL, plus a real connection
loss at COMMIT on PostgreSQL (the backend terminated)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from card_service.audit import AuditEvent, NewEntry, verify_audit_log
from card_service.migrations import upgrade
from card_service.register import auditing
from card_service.register.auditing import (
    IN_DOUBT_ACTION,
    IN_DOUBT_ACTOR,
    AuditNotRecorded,
    GroupCommit,
)
from card_service.register.db import make_engine
from card_service.register.service import Register
from tests.dbfixtures import NOW, admin_dsn


def _entry(result: str = "passed") -> NewEntry:
    return NewEntry("api:x", "permit.verify", result, NOW)


def _log(engine: Engine) -> list[tuple[int, str, str, str]]:
    with Session(engine) as session:
        rows = session.execute(
            select(
                col(AuditEvent.seq),
                col(AuditEvent.actor),
                col(AuditEvent.action),
                col(AuditEvent.result),
            ).order_by(col(AuditEvent.seq))
        )
        return [(int(s), str(a), str(c), str(r)) for s, a, c, r in rows]


def _verifies(engine: Engine) -> None:
    with Session(engine) as session:
        assert verify_audit_log(session, None, NOW).ok


class CommitFault:
    """The dialect's ``do_commit`` failing the next ``times`` commits with the driver's
    OperationalError, ``after`` the commit reached the database or before it did."""

    def __init__(self, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.engine = engine
        self.original: Callable[[Any], None] = engine.dialect.do_commit
        self.pending: list[bool] = []  # one "after" flag per commit to fail
        monkeypatch.setattr(engine.dialect, "do_commit", self._commit)

    def fail(self, *, after: bool, times: int = 1) -> None:
        self.pending += [after] * times

    def _commit(self, dbapi_connection: Any) -> None:
        if not self.pending:
            self.original(dbapi_connection)
            return
        if self.pending.pop(0):
            self.original(dbapi_connection)
        error: type[Exception] = self.engine.dialect.loaded_dbapi.OperationalError
        raise error("server closed the connection unexpectedly")


@pytest.fixture
def fault(db_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> CommitFault:
    return CommitFault(db_engine, monkeypatch)


@pytest.fixture
def check_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[bool], None]]:
    """Make the in-doubt check on a fresh connection fail (``True``) or work again."""
    real = auditing._settle

    def broken(*_args: object) -> bool:
        raise ConnectionRefusedError("no database")

    def set_down(down: bool) -> None:
        monkeypatch.setattr(auditing, "_settle", broken if down else real)

    yield set_down


def test_a_commit_that_landed_before_the_error_is_answered_as_committed(
    db_engine: Engine, fault: CommitFault
) -> None:
    group = GroupCommit(Register(db_engine))
    fault.fail(after=True)
    group.append(_entry())  # no AuditNotRecorded: the entry is in the log
    assert group.entries == 1 and group.in_doubt == 0
    group.append(_entry("passed:2"))
    assert _log(db_engine) == [
        (1, "api:x", "permit.verify", "passed"),
        (2, "api:x", "permit.verify", "passed:2"),
    ]
    _verifies(db_engine)


def test_a_commit_that_failed_before_reaching_the_database_is_a_503(
    db_engine: Engine, fault: CommitFault
) -> None:
    group = GroupCommit(Register(db_engine))
    fault.fail(after=False)
    with pytest.raises(AuditNotRecorded) as caught:
        group.append(_entry())
    assert caught.value.cause == "OperationalError" and "server" not in str(caught.value)
    assert _log(db_engine) == [] and group.in_doubt == 0
    group.append(_entry("passed:2"))  # seq 1 again: nothing was written twice
    assert _log(db_engine) == [(1, "api:x", "permit.verify", "passed:2")]
    _verifies(db_engine)


def test_a_landed_commit_that_cannot_be_checked_is_recorded_in_doubt(
    db_engine: Engine, fault: CommitFault, check_down: Callable[[bool], None]
) -> None:
    group = GroupCommit(Register(db_engine))
    fault.fail(after=True)
    check_down(True)
    with pytest.raises(AuditNotRecorded):  # not known to be committed: a 503
        group.append(_entry())
    assert group.in_doubt == 1 and len(_log(db_engine)) == 1
    check_down(False)
    group.append(_entry("passed:2"))  # the next group settles the first one
    assert group.in_doubt == 0
    assert _log(db_engine) == [
        (1, "api:x", "permit.verify", "passed"),
        (2, IN_DOUBT_ACTOR, IN_DOUBT_ACTION, "committed,answered=503,seq=1-1"),
        (3, "api:x", "permit.verify", "passed:2"),
    ]
    group.append(_entry("passed:3"))  # recorded once only
    assert [r[2] for r in _log(db_engine)].count(IN_DOUBT_ACTION) == 1
    _verifies(db_engine)


def test_a_failed_commit_that_cannot_be_checked_leaves_no_trace(
    db_engine: Engine, fault: CommitFault, check_down: Callable[[bool], None]
) -> None:
    group = GroupCommit(Register(db_engine))
    fault.fail(after=False)
    check_down(True)
    with pytest.raises(AuditNotRecorded):
        group.append(_entry())
    assert group.in_doubt == 1
    check_down(False)
    group.append(_entry("passed:2"))
    assert group.in_doubt == 0
    assert _log(db_engine) == [(1, "api:x", "permit.verify", "passed:2")]
    _verifies(db_engine)


def test_an_in_doubt_record_that_is_itself_in_doubt_is_written_once(
    db_engine: Engine, fault: CommitFault, check_down: Callable[[bool], None]
) -> None:
    """Group A lands unchecked; group B (carrying A's record) lands unchecked; group B'
    fails before its commit; C settles: one record for A (with B), one for B."""
    group = GroupCommit(Register(db_engine))
    check_down(True)
    fault.fail(after=True, times=2)
    for result in ("a", "b"):
        with pytest.raises(AuditNotRecorded):
            group.append(_entry(result))
    assert group.in_doubt == 1
    fault.fail(after=False)
    with pytest.raises(AuditNotRecorded):
        group.append(_entry("b2"))
    check_down(False)
    group.append(_entry("c"))
    assert group.in_doubt == 0
    assert _log(db_engine) == [
        (1, "api:x", "permit.verify", "a"),
        (2, IN_DOUBT_ACTOR, IN_DOUBT_ACTION, "committed,answered=503,seq=1-1"),
        (3, "api:x", "permit.verify", "b"),
        (4, IN_DOUBT_ACTOR, IN_DOUBT_ACTION, "committed,answered=503,seq=2-3"),
        (5, "api:x", "permit.verify", "c"),
    ]
    _verifies(db_engine)


def test_a_carried_record_lost_with_its_group_is_written_later(
    db_engine: Engine, fault: CommitFault, check_down: Callable[[bool], None]
) -> None:
    """Group A lands unchecked; B (carrying A's record) fails before the database,
    unchecked; C records A once (B is absent: nothing to record)."""
    group = GroupCommit(Register(db_engine))
    check_down(True)
    fault.fail(after=True)
    with pytest.raises(AuditNotRecorded):
        group.append(_entry("a"))
    fault.fail(after=False)
    with pytest.raises(AuditNotRecorded):
        group.append(_entry("b"))
    assert group.in_doubt == 1
    check_down(False)
    group.append(_entry("c"))
    assert group.in_doubt == 0
    assert _log(db_engine) == [
        (1, "api:x", "permit.verify", "a"),
        (2, IN_DOUBT_ACTOR, IN_DOUBT_ACTION, "committed,answered=503,seq=1-1"),
        (3, "api:x", "permit.verify", "c"),
    ]
    _verifies(db_engine)


def test_postgres_connection_lost_at_commit(
    postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backend is terminated just before the COMMIT: the driver's own error, the pool's
    connection broken; the check runs on a fresh one and finds nothing: a 503, and the
    next entry commits as seq 1."""
    engine = make_engine(postgres_database)
    upgrade(engine)
    try:
        group = GroupCommit(Register(engine))
        original = engine.dialect.do_commit
        armed = [True]

        def commit(conn: Any) -> None:
            if armed and armed.pop():
                pid = getattr(conn, "dbapi_connection", conn).info.backend_pid
                with psycopg.connect(admin_dsn(), autocommit=True) as admin:
                    # waits (up to 10 s) until the backend has ended
                    admin.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,))
            original(conn)

        monkeypatch.setattr(engine.dialect, "do_commit", commit)
        with pytest.raises(AuditNotRecorded) as caught:
            group.append(_entry())
        assert caught.value.cause == "OperationalError"
        assert _log(engine) == [] and group.in_doubt == 0
        group.append(_entry("passed:2"))
        assert _log(engine) == [(1, "api:x", "permit.verify", "passed:2")]
        _verifies(engine)
    finally:
        engine.dispose()


def test_a_whole_group_is_settled_by_its_first_and_last_entry(
    db_engine: Engine, fault: CommitFault, check_down: Callable[[bool], None]
) -> None:
    """Three callers' entries in one transaction (the leader's commit step, called
    directly so the group is formed deterministically)."""
    group = GroupCommit(Register(db_engine))
    fault.fail(after=True)
    assert group._commit([_entry(f"a{i}") for i in range(3)]) is None  # all committed
    fault.fail(after=True)
    check_down(True)
    assert group._commit([_entry(f"b{i}") for i in range(3)]) == "OperationalError"
    check_down(False)
    assert group._commit([_entry("c")]) is None and group.in_doubt == 0
    log = _log(db_engine)
    assert [r for _, _, _, r in log] == [
        *(f"a{i}" for i in range(3)),
        *(f"b{i}" for i in range(3)),
        "committed,answered=503,seq=4-6",
        "c",
    ]
    _verifies(db_engine)
