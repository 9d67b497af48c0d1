"""Alembic environment: uses the connection handed in by :func:`card_service.migrations.upgrade`
(or builds an engine from ``sqlalchemy.url`` with the register's settings)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import card_service.audit.models
import card_service.register.models
from card_service.migrations import owned_name
from card_service.register.db import make_engine

_ = card_service.audit.models


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        include_name=owned_name,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:  # alembic run by hand: permit's migrations always pass a URL or a connection
        raise SystemExit("sqlalchemy.url is not set: run 'permit register migrate'")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported")
main()
