"""Audit test fixtures: see tests/dbfixtures.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from card_service.migrations import upgrade
from card_service.register.db import make_engine
from tests.dbfixtures import db_engine, db_url, key_manager, postgres_database

__all__ = ["db_engine", "db_url", "key_manager", "postgres_database"]


@pytest.fixture(autouse=True)
def _witness_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own witness directory (the key store's PERMIT_HOME is shared)."""
    path = tmp_path / "witness"
    monkeypatch.setenv("PERMIT_AUDIT_WITNESS_DIR", str(path))
    return path


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite register only (for what is SQLite's own: its file, its write lock)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'register.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()
