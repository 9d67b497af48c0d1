"""Migrations from an empty database, models == migrations, SQLite durability settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel

import card_service.audit.models
import card_service.register.models
from card_service.migrations import OWNED_TABLES, owned_name, upgrade
from card_service.register.db import make_engine

_MODELS = (card_service.audit.models, card_service.register.models)


def test_upgrade_from_empty_creates_every_table(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert inspect(engine).get_table_names() == []
        upgrade(engine)
        upgrade(engine)  # idempotent at head
        tables = set(inspect(engine).get_table_names())
        assert OWNED_TABLES <= tables
        assert "alembic_version" in tables
        with engine.connect() as conn:
            head = conn.execute(text("SELECT id, seq, entry_hash FROM audit_head")).all()
            assert [tuple(r) for r in head] == [(1, 0, "0" * 64)]
            key = conn.execute(text("SELECT value FROM register_meta")).scalar_one()
            assert len(bytes.fromhex(key)) == 32
    finally:
        engine.dispose()


def test_models_match_migrations(db_engine: Engine) -> None:
    """``alembic check``: autogenerate finds nothing to do after upgrading to head."""
    with db_engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": owned_name}
        )
        assert compare_metadata(context, SQLModel.metadata) == []


def test_partial_unique_indexes_exist(db_engine: Engine) -> None:
    names = {i["name"] for i in inspect(db_engine).get_indexes("permit")}
    assert {"uq_permit_active_person", "uq_permit_live_card"} <= names


def test_sqlite_is_wal_and_synchronous_full(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/r.db")
    try:
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert (conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 10_000
    finally:
        engine.dispose()


def test_default_url_is_sqlite_under_permit_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from card_service.register.db import database_url

    assert database_url({"PERMIT_DATABASE_URL": "postgresql+psycopg://x/y"}) == (
        "postgresql+psycopg://x/y"
    )
    assert database_url({"PERMIT_HOME": str(tmp_path)}) == f"sqlite:///{tmp_path}/register.db"
