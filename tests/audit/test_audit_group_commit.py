"""Audit-only entries committed in groups (register.auditing.GroupCommit, audit.append_many):
every caller returns only once its entry is committed, the chain stays gapless and verifies,
several callers share a transaction, a failed commit fails every entry of its group (and
writes none of it), and a bad entry is refused alone."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, event, func, select
from sqlmodel import Session

from card_service.audit import AuditError, AuditEvent, NewEntry, append_many, verify_audit_log
from card_service.register.auditing import AuditNotRecorded, GroupCommit
from card_service.register.service import Register
from tests.dbfixtures import NOW

THREADS, PER_THREAD = 8, 25


def _count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


def test_many_threads_every_entry_committed_and_chained(db_engine: Engine) -> None:
    group = GroupCommit(Register(db_engine))
    # hold the first commit until every thread has queued, so groups really form
    gate, queued = threading.Event(), threading.Semaphore(0)

    def before_commit(_conn: object) -> None:
        gate.wait(timeout=30)

    event.listen(db_engine, "commit", before_commit)
    try:

        def one(n: int) -> int:
            queued.release()
            for i in range(PER_THREAD):
                group.append(NewEntry(f"api:bench:{n}", "permit.verify", f"passed:{i}", NOW))
            return n

        with ThreadPoolExecutor(THREADS) as pool:
            futures = [pool.submit(one, n) for n in range(THREADS)]
            for _ in range(THREADS):
                assert queued.acquire(timeout=30)
            gate.set()
            assert sorted(f.result(timeout=60) for f in futures) == list(range(THREADS))
    finally:
        event.remove(db_engine, "commit", before_commit)
    total = THREADS * PER_THREAD
    assert group.entries == total == _count(db_engine)
    assert group.commits < total  # some transactions held several entries
    with Session(db_engine) as session:
        report = verify_audit_log(session, None, NOW)
        assert report.ok and report.entries_checked == total
        seqs = list(session.execute(select(AuditEvent.seq).order_by(AuditEvent.seq)).scalars())
    assert seqs == list(range(1, total + 1))
    # each thread's entries are in its own order
    with Session(db_engine) as session:
        rows = session.execute(select(AuditEvent.actor, AuditEvent.result).order_by(AuditEvent.seq))
        mine = [r for a, r in rows if a == "api:bench:3"]
    assert mine == [f"passed:{i}" for i in range(PER_THREAD)]


def test_a_failed_commit_fails_its_whole_group_and_writes_nothing(db_engine: Engine) -> None:
    group = GroupCommit(Register(db_engine))
    group.append(NewEntry("api:x", "permit.verify", "passed", NOW))

    def refuse(_conn: object) -> None:
        raise RuntimeError("the disk is full")

    event.listen(db_engine, "commit", refuse)
    try:
        with pytest.raises(AuditNotRecorded) as caught:
            group.append(NewEntry("api:x", "permit.verify", "passed", NOW))
    finally:
        event.remove(db_engine, "commit", refuse)
    assert caught.value.cause == "RuntimeError" and caught.value.code == "audit_not_recorded"
    assert "disk" not in str(caught.value)
    assert _count(db_engine) == 1
    group.append(NewEntry("api:x", "permit.verify", "passed", NOW))  # the next one commits
    assert _count(db_engine) == 2
    with Session(db_engine) as session:
        assert verify_audit_log(session, None, NOW).ok


def test_a_bad_entry_is_refused_alone(db_engine: Engine) -> None:
    group = GroupCommit(Register(db_engine))
    with pytest.raises(AuditError):
        group.append(NewEntry("api:x", "permit.verify", "free text with spaces", NOW))
    with pytest.raises(AuditError):
        group.append(NewEntry("api:x", "permit.verify", "passed", NOW, permit_number="lower"))
    with Session(db_engine) as session, session.begin(), pytest.raises(AuditError):
        append_many(session, [NewEntry("bad actor", "permit.verify", "passed", NOW)])
    assert _count(db_engine) == 0


def test_register_record_verification_uses_one_group_per_register(db_engine: Engine) -> None:
    register = Register(db_engine)
    register.record_verification("330106202600000001", "passed", "api:x", NOW)
    register.record_verification(None, "failed:challenge_replayed", "api:x", NOW)
    assert register._group is not None and register._group.entries == 2
    assert _count(db_engine) == 2
