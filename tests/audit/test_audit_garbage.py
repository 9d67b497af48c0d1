"""Garbage in an audit row is a reported failure at that entry, naming the field and never the
value, not a traceback (both databases; SQLite also stores what its column types would not)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from card_service.audit import create_checkpoint, verify_audit_log
from card_service.migrations import upgrade
from card_service.register.db import make_engine
from keys.pki import KeyManager
from tests.dbfixtures import NOW

from .test_audit_chain import add, exec_sql

SECRET = "11010519900101001X"

BOTH = [
    (
        "UPDATE audit_event SET prev_hash = 'zz' || substr(prev_hash, 3) WHERE seq = 2",
        2,
        "prev_hash",
    ),
    ("UPDATE audit_event SET entry_hash = upper(entry_hash) WHERE seq = 2", 2, "entry_hash"),
    ("UPDATE audit_event SET entry_hash = 'abc' WHERE seq = 2", 2, "entry_hash"),
    (f"UPDATE audit_event SET actor = 'Zhang {SECRET}' WHERE seq = 2", 2, "actor"),
    (f"UPDATE audit_event SET result = 'id={SECRET}' WHERE seq = 2", 2, "result"),
    ("UPDATE audit_event SET action = '' WHERE seq = 2", 2, "action"),
    ("UPDATE audit_event SET permit_number = 'a b' WHERE seq = 2", 2, "permit_number"),
    ("UPDATE audit_head SET entry_hash = 'not hex'", 3, "entry_hash"),
    ("UPDATE audit_checkpoint SET signature = 'xyz'", 3, "signature"),
    ("UPDATE audit_checkpoint SET entry_hash = 'G' || substr(entry_hash, 2)", 3, "entry_hash"),
    ("UPDATE audit_checkpoint SET certificate = 'junk'", 3, "certificate"),
]
SQLITE_ONLY = [
    ("UPDATE audit_event SET time = 'not a date' WHERE seq = 2", 2, "time"),
    ("UPDATE audit_event SET time = '2026-13-01 00:00:00.000000' WHERE seq = 2", 2, "time"),
    ("UPDATE audit_event SET time = 12 WHERE seq = 2", 2, "time"),
    ("UPDATE audit_event SET time = '2026-11-28T04:00:00' WHERE seq = 2", 2, "time"),
    ("UPDATE audit_event SET result = x'ff00' WHERE seq = 2", 2, "result"),
    ("UPDATE audit_head SET seq = 'three'", 0, "seq"),
    ("UPDATE audit_checkpoint SET time = 'yesterday'", 3, "time"),
]
POSTGRES_ONLY = [
    ("UPDATE audit_event SET time = 'infinity' WHERE seq = 2", 2, "time"),
    ("UPDATE audit_event SET time = '20000-01-01' WHERE seq = 2", 2, "time"),
    ("UPDATE audit_checkpoint SET time = '-infinity'", 3, "time"),
]


@pytest.fixture
def postgres_engine(postgres_database: str) -> Iterator[Engine]:
    engine = make_engine(postgres_database)
    upgrade(engine)
    yield engine
    engine.dispose()


def check(engine: Engine, keys: KeyManager, statement: str, seq: int, field: str) -> None:
    add(engine, 3)
    create_checkpoint(engine, keys, NOW)
    exec_sql(engine, statement)
    with Session(engine) as session:
        report = verify_audit_log(session, None, NOW)
    assert (report.ok, report.first_bad_seq) == (False, seq), report
    assert f"field '{field}' is malformed" in (report.reason or "")
    assert SECRET not in (report.reason or "") and "Zhang" not in (report.reason or "")
    assert report.unsealed_entries is None


@pytest.mark.parametrize(("statement", "seq", "field"), BOTH)
def test_garbage_is_reported_at_its_entry(
    db_engine: Engine, key_manager: KeyManager, statement: str, seq: int, field: str
) -> None:
    check(db_engine, key_manager, statement, seq, field)


@pytest.mark.parametrize(("statement", "seq", "field"), SQLITE_ONLY)
def test_sqlite_garbage_is_reported_at_its_entry(
    sqlite_engine: Engine, key_manager: KeyManager, statement: str, seq: int, field: str
) -> None:
    check(sqlite_engine, key_manager, statement, seq, field)


@pytest.mark.parametrize(("statement", "seq", "field"), POSTGRES_ONLY)
def test_postgres_garbage_is_reported_at_its_entry(
    postgres_engine: Engine, key_manager: KeyManager, statement: str, seq: int, field: str
) -> None:
    check(postgres_engine, key_manager, statement, seq, field)
