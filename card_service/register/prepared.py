"""Look-ups on the hot path of every request, below SQLAlchemy's statement layer.

A relying-party verification reads two rows (the API client that authenticates it, the
permit its record names).  Through a session or ``Connection.execute`` each read costs
about half a millisecond of Python (statement construction, the compiled-cache key, the
execution context, the transaction's ``BEGIN`` and reset) for some ten microseconds of
database work; at a few hundred verifications a second per worker that is most of the
service's CPU.  :class:`PreparedRead` keeps what SQLAlchemy would produce and throws away
the rest:

* the statement is an ordinary Core ``select()`` with named ``bindparam()``s, compiled
  **once** for the engine's dialect (so its SQL is the SQL SQLAlchemy runs, with the
  dialect's quoting and paramstyle);
* each run checks a DBAPI connection out of the engine's own pool (so pre-ping,
  invalidation and the pool limits apply as everywhere else), executes the statement, and
  converts bound values and results with the columns' own types (``UtcDateTime`` gives the
  same aware instants as the ORM);
* on SQLite the register's connections run in autocommit mode (``register.db``), so the
  single ``SELECT`` is its own read transaction (a WAL snapshot, no ``BEGIN``, never
  queueing behind a writer); on PostgreSQL it runs in the pool's transaction, rolled back
  on check-in as always;
* a driver error is raised as SQLAlchemy's own wrapper (``DBAPIError.instance``, without
  the statement's parameters), so callers map it as they map every database failure; a
  disconnect invalidates the connection.

Only reads go through here: every write stays in :func:`.store.write`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine, Select
from sqlalchemy.exc import DBAPIError

__all__ = ["PreparedRead"]

_Processor = Callable[[Any], Any] | None


class PreparedRead:
    """One ``SELECT`` (``statement``, with named bind parameters) compiled once for
    ``engine`` and run on its pool's raw connections (see the module text)."""

    def __init__(self, engine: Engine, statement: Select[*tuple[Any, ...]]) -> None:
        self.engine = engine
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        names = list(compiled.positiontup or ()) if compiled.positional else None
        self._positional = names
        self._binds: dict[str, _Processor] = {
            name: bind.type._cached_bind_processor(dialect) for name, bind in compiled.binds.items()
        }
        self._results: list[_Processor] = [
            column.type._cached_result_processor(dialect, None)
            for column in statement.selected_columns
        ]
        self._dbapi_error: type[Exception] = dialect.loaded_dbapi.Error

    def _parameters(self, values: dict[str, Any]) -> Sequence[Any] | dict[str, Any]:
        bound = {}
        for name, processor in self._binds.items():
            value = values[name]
            bound[name] = value if processor is None else processor(value)
        if self._positional is not None:
            return tuple(bound[name] for name in self._positional)
        return bound

    def one_or_none(self, **values: Any) -> tuple[Any, ...] | None:
        """The one row the statement selects with ``values`` (converted by the columns'
        types), or ``None``; more than one row is a ``LookupError`` (a statement on a
        unique key never has two)."""
        return self.each([values])[0]

    def each(self, values: Sequence[dict[str, Any]]) -> list[tuple[Any, ...] | None]:
        """:meth:`one_or_none` for each of ``values``, on one pooled connection (a batch of
        look-ups: one check-out)."""
        parameters = [self._parameters(v) for v in values]
        try:
            connection = self.engine.raw_connection()
        except self._dbapi_error as exc:
            raise self._wrapped(exc) from None
        found: list[Sequence[Any]] = []
        try:
            cursor = connection.cursor()
            try:
                for bound in parameters:
                    cursor.execute(self.sql, bound)
                    found.append(cursor.fetchmany(2))
            finally:
                cursor.close()
        except self._dbapi_error as exc:
            if self.engine.dialect.is_disconnect(exc, connection.dbapi_connection, None):  # type: ignore[arg-type]
                connection.invalidate(exc)
            raise self._wrapped(exc) from None
        finally:
            connection.close()  # back to the pool (which rolls back what is open)
        return [self._row(rows) for rows in found]

    def _row(self, rows: Sequence[Any]) -> tuple[Any, ...] | None:
        if not rows:
            return None
        if len(rows) > 1:
            raise LookupError("a prepared look-up on a unique key selected several rows")
        return tuple(
            value if processor is None else processor(value)
            for value, processor in zip(rows[0], self._results, strict=True)
        )

    def _wrapped(self, exc: Exception) -> DBAPIError:
        # never the parameters (personal data, key ids): the statement text only
        wrapped = DBAPIError.instance(
            self.sql,
            None,
            exc,
            self._dbapi_error,
            hide_parameters=True,
            dialect=self.engine.dialect,
        )
        assert isinstance(wrapped, DBAPIError)
        return wrapped
