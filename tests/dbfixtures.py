"""Database fixtures shared by the register and audit tests (and later the workflows).

``db_url`` runs a test on SQLite (a file under ``tmp_path``) and on PostgreSQL (a database
created for the test on ``$PERMIT_TEST_POSTGRES_URL``, default 127.0.0.1:5432 as postgres,
dropped afterwards).  Without a reachable PostgreSQL the PostgreSQL cases are skipped, unless
``PERMIT_REQUIRE_POSTGRES`` is set (CI), in which case they fail.

Use from a conftest: ``from tests.dbfixtures import *  # noqa: F403``.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from card_service.migrations import upgrade
from card_service.record.citizen_id import check_character
from card_service.register.db import make_engine
from keys.config import KeySettings
from keys.pki import KeyManager

__all__ = [
    "KEY_PASSPHRASE",
    "NOW",
    "admin_dsn",
    "db_engine",
    "db_url",
    "id_number",
    "key_manager",
    "postgres_database",
]

NOW = dt.datetime(2026, 11, 28, 4, 0, tzinfo=dt.UTC)
KEY_PASSPHRASE = "correct horse battery staple 7"
POSTGRES_URL_ENV = "PERMIT_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def id_number(index: int, birth: str = "19900101") -> str:
    """A valid synthetic citizen ID number (GB 11643) for person ``index`` (< 1000)."""
    body = f"110105{birth}{index % 1000:03d}"
    return body + check_character(body)


def admin_dsn() -> str:
    url = make_url(os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL))
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _postgres_or_skip() -> str:
    dsn = admin_dsn()
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL is not reachable ({type(exc).__name__})"
        if os.environ.get("PERMIT_REQUIRE_POSTGRES"):
            pytest.fail(f"{reason} but PERMIT_REQUIRE_POSTGRES is set")
        pytest.skip(f"{reason}; set PERMIT_REQUIRE_POSTGRES=1 to make this an error")
    return dsn


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; its SQLAlchemy URL.  Dropped (FORCE) afterwards."""
    dsn = _postgres_or_skip()
    name = f"permit_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = make_url(os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL))
    url = base.set(drivername="postgresql+psycopg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (not migrated) on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'register.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    """A migrated database on each backend."""
    engine = make_engine(db_url)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def key_manager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyManager]:
    """An initialised file key store (for audit checkpoints), shared by the session."""
    home = tmp_path_factory.mktemp("keys-home")
    settings = KeySettings(
        directory=home / "keys",
        env={"PERMIT_HOME": str(home), "PERMIT_KEY_PASSPHRASE": KEY_PASSPHRASE},
    )
    with KeyManager(settings) as manager:
        manager.init(NOW - dt.timedelta(days=1))
        yield manager
