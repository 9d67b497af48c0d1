"""The register's models (card_service/register/models.py) and its migrations declare the
same indexes and unique constraints, on SQLite and PostgreSQL: the database's guarantees
(one live permit per person and per card, unique numbers...) come from the migration, and a
model that drifted from it (``unique=False``, another WHERE) would mislead every reader and
any tool that builds the schema from the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import SQLModel

import card_service.register.models  # noqa: F401  (registers the tables)


def test_migrated_indexes_match_the_models(db_engine: Engine) -> None:
    with db_engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)

    def kind(diff: object) -> str:
        first = diff[0] if isinstance(diff, tuple) else diff[0][0]  # type: ignore[index]
        return str(first)

    relevant = [d for d in diffs if "index" in kind(d) or "constraint" in kind(d)]
    assert relevant == [], relevant
