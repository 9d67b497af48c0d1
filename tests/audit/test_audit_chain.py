"""The hash-chained audit log: appends, concurrency and tamper detection (both databases)."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, select, text
from sqlmodel import Session, col

from card_service.audit import (
    GENESIS_HASH,
    AuditError,
    AuditEvent,
    append,
    entry_hash,
    verify_audit_log,
)
from card_service.register.db import transaction
from tests.dbfixtures import NOW


def add(engine: Engine, count: int, actor: str = "officer-1", start: int = 0) -> None:
    for i in range(count):
        with transaction(engine) as session:
            append(
                session,
                actor=actor,
                action="permit.verify",
                result="valid",
                now=NOW + dt.timedelta(seconds=start + i, microseconds=123),
                permit_number="330106202600000422",
            )


def report(engine: Engine) -> tuple[bool, int | None, str | None]:
    with Session(engine) as session:
        r = verify_audit_log(session, None, NOW)
    return r.ok, r.first_bad_seq, r.reason


def exec_sql(engine: Engine, statement: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def test_append_links_entries(db_engine: Engine) -> None:
    add(db_engine, 3)
    with Session(db_engine) as session:
        events = session.execute(select(AuditEvent).order_by(col(AuditEvent.seq))).scalars().all()
        assert [e.seq for e in events] == [1, 2, 3]
        assert events[0].prev_hash == GENESIS_HASH
        assert events[1].prev_hash == events[0].entry_hash
        first = events[0]
        assert first.time == NOW + dt.timedelta(microseconds=123)
        assert first.entry_hash == entry_hash(
            1, first.time, first.actor, first.action, first.permit_number, "valid", GENESIS_HASH
        )
        r = verify_audit_log(session, None, NOW)
    assert (r.ok, r.entries_checked, r.unsealed_entries, r.signers_trusted) == (
        True,
        3,
        3,
        False,
    )


def test_append_rolls_back_with_the_state_change(db_engine: Engine) -> None:
    add(db_engine, 1)
    with pytest.raises(RuntimeError), transaction(db_engine) as session:
        append(session, actor="a", action="permit.issue", result="ok", now=NOW)
        raise RuntimeError("state change failed")
    add(db_engine, 1, start=5)
    assert report(db_engine) == (True, None, None)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("actor", "Zhang Wei"),
        ("action", "Permit Issue"),
        ("result", "name=Li Na"),
        ("result", "id=11010519900101001X"),
        ("permit_number", "abc def"),
    ],
)
def test_free_text_and_id_numbers_are_refused(db_engine: Engine, field: str, value: str) -> None:
    fields: dict[str, str] = {"actor": "officer-1", "action": "permit.issue", "result": "ok"}
    fields[field] = value
    with pytest.raises(AuditError), transaction(db_engine) as session:
        append(session, now=NOW, **fields)


def test_concurrent_writers_never_fork_the_chain(db_engine: Engine) -> None:
    barrier = threading.Barrier(20)

    def writer(index: int) -> None:
        barrier.wait()
        add(db_engine, 20, actor=f"writer-{index}", start=index * 100)

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(writer, range(20)))
    with Session(db_engine) as session:
        seqs = (
            session.execute(select(col(AuditEvent.seq)).order_by(col(AuditEvent.seq)))
            .scalars()
            .all()
        )
        r = verify_audit_log(session, None, NOW)
    assert seqs == list(range(1, 401))
    assert r.ok and r.entries_checked == 400


def test_edited_entry_is_detected(db_engine: Engine) -> None:
    add(db_engine, 6)
    exec_sql(db_engine, "UPDATE audit_event SET result = 'invalid' WHERE seq = 4")
    assert report(db_engine)[:2] == (False, 4)


def test_edited_time_is_detected(db_engine: Engine) -> None:
    add(db_engine, 6)
    with Session(db_engine) as session:
        event = session.get(AuditEvent, 2)
        assert event is not None
        event.time = event.time + dt.timedelta(seconds=1)
        session.commit()
    assert report(db_engine)[:2] == (False, 2)


def test_deleted_entry_is_detected(db_engine: Engine) -> None:
    add(db_engine, 6)
    exec_sql(db_engine, "DELETE FROM audit_event WHERE seq = 3")
    ok, seq, reason = report(db_engine)
    assert (ok, seq) == (False, 3) and reason is not None and "missing" in reason


def test_inserted_entry_is_detected(db_engine: Engine) -> None:
    add(db_engine, 6)
    # make room at seq 4 and insert a forged entry there (hash valid for its own fields)
    for seq in range(6, 3, -1):
        exec_sql(db_engine, "UPDATE audit_event SET seq = :n WHERE seq = :o", n=seq + 1, o=seq)
    forged_prev = "f" * 64
    forged = entry_hash(4, NOW, "officer-1", "permit.issue", None, "ok", forged_prev)
    exec_sql(
        db_engine,
        "INSERT INTO audit_event (seq, time, actor, action, permit_number, result, prev_hash,"
        " entry_hash) VALUES (4, :t, 'officer-1', 'permit.issue', NULL, 'ok', :p, :h)",
        t=NOW if db_engine.dialect.name == "postgresql" else NOW.replace(tzinfo=None),
        p=forged_prev,
        h=forged,
    )
    assert report(db_engine)[:2] == (False, 4)


def test_reordered_entries_are_detected(db_engine: Engine) -> None:
    add(db_engine, 6)
    exec_sql(db_engine, "UPDATE audit_event SET seq = 100 WHERE seq = 2")
    exec_sql(db_engine, "UPDATE audit_event SET seq = 2 WHERE seq = 3")
    exec_sql(db_engine, "UPDATE audit_event SET seq = 3 WHERE seq = 100")
    assert report(db_engine)[:2] == (False, 2)


def test_truncated_tail_is_detected(db_engine: Engine) -> None:
    add(db_engine, 6)
    exec_sql(db_engine, "DELETE FROM audit_event WHERE seq > 4")
    ok, seq, reason = report(db_engine)
    assert (ok, seq) == (False, 5) and reason is not None and "truncated" in reason


def test_forged_head_is_detected(db_engine: Engine) -> None:
    add(db_engine, 3)
    exec_sql(db_engine, "UPDATE audit_head SET entry_hash = :h WHERE id = 1", h="e" * 64)
    assert report(db_engine)[:2] == (False, 3)
