"""API client test fixtures: see tests/dbfixtures.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from card_service.register.store import Store
from tests.dbfixtures import db_engine, db_url, key_manager, postgres_database

__all__ = ["db_engine", "db_url", "key_manager", "postgres_database", "store"]


@pytest.fixture
def store(db_engine: Engine) -> Iterator[Store]:
    """The register store the clients' registry writes through (no audit sealing)."""
    yield Store(db_engine)
