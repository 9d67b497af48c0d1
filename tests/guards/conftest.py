"""Guard-test fixtures: the workflow ``world`` (SQLite and PostgreSQL) and the database ones."""

from __future__ import annotations

from tests.dbfixtures import db_engine, db_url, key_manager, postgres_database
from tests.workflows.conftest import world

__all__ = ["db_engine", "db_url", "key_manager", "postgres_database", "world"]
