"""Engine and session factory for the register (SQLite by default, PostgreSQL by URL).

* ``PERMIT_DATABASE_URL`` unset: a SQLite file ``$PERMIT_HOME/register.db`` in WAL mode with
  ``synchronous=FULL`` (a committed transaction survives a power cut), foreign keys on, and
  every transaction started with ``BEGIN IMMEDIATE``.  That takes SQLite's single write lock
  up front, so read-modify-write sequences (counter, audit chain head) are serialised and
  never fail half-way with ``SQLITE_BUSY`` on lock upgrade; ``busy_timeout`` makes waiters
  queue instead of erroring.
* ``PERMIT_DATABASE_URL=postgresql+psycopg://...``: PostgreSQL at READ COMMITTED; the
  register serialises with explicit row locks (``SELECT ... FOR UPDATE`` /
  ``UPDATE ... RETURNING``) taken in a fixed order (see docs/register.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

from card_service.settings import permit_home

__all__ = [
    "DATABASE_URL_ENV",
    "SQLITE_BUSY_TIMEOUT_S",
    "database_url",
    "make_engine",
    "redacted_url",
    "transaction",
]

log = logging.getLogger(__name__)

DATABASE_URL_ENV = "PERMIT_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_S = 60.0


def database_url(env: Mapping[str, str] | None = None) -> str:
    """``$PERMIT_DATABASE_URL``, else the SQLite file ``$PERMIT_HOME/register.db``."""
    env = os.environ if env is None else env
    url = env.get(DATABASE_URL_ENV, "").strip()
    if url:
        return url
    return f"sqlite:///{permit_home() / 'register.db'}"


def redacted_url(url: str) -> str:
    """The URL without its password (for logs and error messages)."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite's own implicit
    # transaction handling would start a deferred transaction).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str | None = None, *, echo: bool = False) -> Engine:
    """An engine for ``url`` (default :func:`database_url`), configured as described above."""
    url = url or database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ValueError("the register needs a SQLite file, not an in-memory database")
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
            pool_size=5,
            max_overflow=20,
            pool_timeout=SQLITE_BUSY_TIMEOUT_S,
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    elif parsed.get_backend_name() == "postgresql":
        engine = create_engine(
            url,
            echo=echo,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=60,
            pool_timeout=60,
        )
    else:
        raise ValueError(f"unsupported database {parsed.get_backend_name()!r} (sqlite, postgresql)")
    log.debug("register database %s", redacted_url(url))
    return engine


@contextlib.contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any exception."""
    with Session(engine, expire_on_commit=False) as session:
        with session.begin():
            yield session
