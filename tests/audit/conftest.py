"""Audit test fixtures: see tests/dbfixtures.py."""

from __future__ import annotations

from tests.dbfixtures import db_engine, db_url, key_manager, postgres_database

__all__ = ["db_engine", "db_url", "key_manager", "postgres_database"]
