"""Audit test fixtures: see tests/dbfixtures.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dbfixtures import db_engine, db_url, key_manager, postgres_database

__all__ = ["db_engine", "db_url", "key_manager", "postgres_database"]


@pytest.fixture(autouse=True)
def _witness_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own witness directory (the key store's PERMIT_HOME is shared)."""
    path = tmp_path / "witness"
    monkeypatch.setenv("PERMIT_AUDIT_WITNESS_DIR", str(path))
    return path
