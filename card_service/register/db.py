"""Engine and session factory for the register (SQLite by default, PostgreSQL by URL).

* ``PERMIT_DATABASE_URL`` unset: a SQLite file ``$PERMIT_HOME/register.db`` in WAL mode with
  ``synchronous=FULL`` (a committed transaction survives a power cut), foreign keys on, and
  every transaction started with ``BEGIN IMMEDIATE``.  That takes SQLite's single write lock
  up front, so read-modify-write sequences (counter, audit chain head) are serialised and
  never fail half-way with ``SQLITE_BUSY`` on lock upgrade; ``busy_timeout`` makes waiters
  queue instead of erroring.  Look-ups that write nothing go through :func:`read_only`
  (plain ``BEGIN``: a WAL read snapshot, no queueing behind writers).
* ``PERMIT_DATABASE_URL=postgresql+psycopg://...``: PostgreSQL at READ COMMITTED; the
  register serialises with explicit row locks (``SELECT ... FOR UPDATE`` /
  ``UPDATE ... RETURNING``) taken in a fixed order (see docs/register.md).

The SQLite file holds applicants' personal data: it is created 0600 by permit before SQLite
opens it (SQLite gives its ``-wal`` and ``-shm`` files the mode of the database file,
whatever the umask), an existing one with group or other bits is tightened to 0600 with a
warning, and a database path that is a symbolic link or not a regular file is refused.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

from card_service.settings import permit_home
from keys.fsutil import UnsafePathError, ensure_private_dir

from .errors import RegisterConfigError

__all__ = [
    "DATABASE_URL_ENV",
    "READ_ONLY_OPTION",
    "SQLITE_BUSY_TIMEOUT_S",
    "database_url",
    "make_engine",
    "read_only",
    "redacted_url",
    "transaction",
]

log = logging.getLogger(__name__)

DATABASE_URL_ENV = "PERMIT_DATABASE_URL"
SQLITE_BUSY_TIMEOUT_S = 60.0


def database_url(env: Mapping[str, str]) -> str:
    """``PERMIT_DATABASE_URL`` of ``env``, else the SQLite file ``$PERMIT_HOME/register.db``
    (the application layer's settings pass the environment; nothing here reads it)."""
    url = env.get(DATABASE_URL_ENV, "").strip()
    if url:
        return url
    return f"sqlite:///{permit_home(env) / 'register.db'}"


def redacted_url(url: str) -> str:
    """The URL without its password (for logs and error messages)."""
    return make_url(url).render_as_string(hide_password=True)


#: Files SQLite keeps beside the database (WAL mode, and a rollback journal if ever used).
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def _private_sqlite_file(path: str) -> None:
    """Create the SQLite file ``path`` with mode 0600 before SQLite does (SQLite would use
    0644 minus the umask); tighten an existing one and its side files to 0600.

    A missing parent directory is created 0700.  A path, or side file, that is a symbolic
    link or not a regular file is refused with :class:`~keys.fsutil.UnsafePathError`.
    """
    db = os.path.abspath(path)
    parent = os.path.dirname(db)
    if not os.path.lexists(parent):
        ensure_private_dir(Path(parent))
    try:
        fd = os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    else:
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
        log.info("created register database file %s (mode 0600)", db)
    for name in (db, *(db + suffix for suffix in _SQLITE_SIDE_FILES)):
        try:
            st = os.lstat(name)
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(name, "the register file is not a regular file (a link?)")
        if st.st_mode & 0o077 and st.st_uid == os.geteuid():
            os.chmod(name, 0o600)
            log.warning("register file %s was readable by others: now mode 0600", name)


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


#: SQLite connections kept open by the pool.
SQLITE_POOL_SIZE = 32

#: The execution option of a read-only engine (:func:`read_only`).
READ_ONLY_OPTION = "permit_read_only"


def _sqlite_on_begin(conn: Any) -> None:
    if conn.get_execution_options().get(READ_ONLY_OPTION):
        conn.exec_driver_sql("BEGIN")  # a WAL snapshot: readers never queue on the writer
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def read_only(engine: Engine) -> Engine:
    """``engine`` for look-ups only: on SQLite its transactions begin ``DEFERRED`` (a read
    snapshot in WAL mode, taken without the write lock, so look-ups run beside a writer
    instead of queueing behind it); the same pool.  A write through it on SQLite would
    take the lock late and may fail busy: never write through it."""
    return engine.execution_options(**{READ_ONLY_OPTION: True})


def _no_rows(record: logging.LogRecord) -> bool:
    """SQLAlchemy's engine logs every fetched row at DEBUG (``Row (...)``: applicants' names,
    ID numbers, addresses); ``hide_parameters`` hides only the parameters.  Dropped at the
    engine's own logger, so no handler, level or configuration ever sees them."""
    return record.levelno > logging.DEBUG


#: The logger SQLAlchemy logs statements and rows to (engines without a ``logging_name``).
ENGINE_LOGGER = "sqlalchemy.engine.Engine"


def _guard_engine_log() -> None:
    logger = logging.getLogger(ENGINE_LOGGER)
    if _no_rows not in logger.filters:
        logger.addFilter(_no_rows)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url`` (see :func:`database_url`), configured as described above;
    its rows never reach a log (:func:`_no_rows`)."""
    _guard_engine_log()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise RegisterConfigError("the register needs a SQLite file, not an in-memory database")
        if not parsed.database.startswith("file:"):  # a URI names its file in its own syntax
            _private_sqlite_file(parsed.database)
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,  # personal data never in SQL logs or error messages
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
            # kept open: a service's worker threads (40 by default) each hold one at a
            # time, and an overflow connection is reopened (its pragmas re-run) per use
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=20,
            pool_timeout=SQLITE_BUSY_TIMEOUT_S,
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    elif parsed.get_backend_name() == "postgresql":
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,  # personal data never in SQL logs or error messages
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=60,
            pool_timeout=60,
        )
    else:
        raise RegisterConfigError(
            f"unsupported database {parsed.get_backend_name()!r} (sqlite, postgresql)"
        )
    log.debug("register database %s", redacted_url(url))
    return engine


@contextlib.contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any exception."""
    with Session(engine, expire_on_commit=False) as session:
        with session.begin():
            yield session
