"""PreparedRead (card_service/register/prepared.py): the hot-path look-ups below SQLAlchemy's
statement layer give what SQLAlchemy gives, on both databases, and fail as SQLAlchemy fails
(without the parameters)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    event,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError

from card_service.register.prepared import PreparedRead
from card_service.register.types import UtcDateTime

SECRET = "110105199001011234-secret-parameter"
T0 = dt.datetime(2026, 11, 28, 4, 0, 0, 123456, tzinfo=dt.UTC)

metadata = MetaData()
probe = Table(
    "prepared_probe",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tag", String(64), nullable=False),  # not unique: two rows can share a tag
    Column("at", UtcDateTime, nullable=True),
    Column("note", String(64), nullable=True),
)

BY_ID = select(probe.c.id, probe.c.tag, probe.c.at, probe.c.note).where(
    probe.c.id == bindparam("id")
)
BY_TAG = select(probe.c.id, probe.c.at).where(probe.c.tag == bindparam("tag"))
BY_TAG_AFTER = select(probe.c.id, probe.c.note).where(
    (probe.c.tag == bindparam("tag")) & (probe.c.at > bindparam("after"))
)

ROWS: list[dict[str, Any]] = [
    {"id": 1, "tag": "a", "at": T0, "note": "one"},
    {"id": 2, "tag": "b", "at": T0 + dt.timedelta(hours=5), "note": None},
    {"id": 3, "tag": "c", "at": None, "note": "three"},
    {"id": 4, "tag": "twin", "at": T0, "note": None},
    {"id": 5, "tag": "twin", "at": T0, "note": None},
]


@pytest.fixture
def engine(db_engine: Engine) -> Iterator[Engine]:
    metadata.create_all(db_engine)
    with db_engine.begin() as conn:
        conn.execute(probe.insert(), ROWS)
    yield db_engine
    metadata.drop_all(db_engine, checkfirst=True)


def _orm(engine: Engine, statement: Any, **values: Any) -> tuple[Any, ...] | None:
    with engine.connect() as conn:
        row = conn.execute(statement, values).one_or_none()
    return None if row is None else tuple(row)


@pytest.mark.parametrize("row_id", [1, 2, 3, 4, 99])
def test_one_or_none_equals_sqlalchemy(engine: Engine, row_id: int) -> None:
    read = PreparedRead(engine, BY_ID)
    assert read.one_or_none(id=row_id) == _orm(engine, BY_ID, id=row_id)


def test_instants_are_aware_utc(engine: Engine) -> None:
    read = PreparedRead(engine, BY_ID)
    row = read.one_or_none(id=2)
    assert row is not None
    at = row[2]
    assert isinstance(at, dt.datetime)
    assert at.utcoffset() == dt.timedelta(0)
    assert at == T0 + dt.timedelta(hours=5)
    assert read.one_or_none(id=3) == (3, "c", None, "three")


def test_bound_values_use_the_column_types(engine: Engine) -> None:
    # an aware instant bound through UtcDateTime compares as the ORM's does (SQLite stores
    # naive UTC text: an unconverted aware value would compare as other text)
    read = PreparedRead(engine, BY_TAG_AFTER)
    after = T0 + dt.timedelta(hours=1)
    assert read.one_or_none(tag="b", after=after) == (2, None)
    assert read.one_or_none(tag="a", after=after) is None
    assert read.one_or_none(tag="b", after=after) == _orm(
        engine, BY_TAG_AFTER, tag="b", after=after
    )


def test_bound_values_pass_through_the_column_types(engine: Engine) -> None:
    # UtcDateTime refuses a naive instant on write and on comparison: proof its bind
    # processor ran (an unconverted value would just be compared as the driver adapts it)
    read = PreparedRead(engine, BY_TAG_AFTER)
    with pytest.raises(ValueError):
        read.one_or_none(tag="b", after=dt.datetime(2026, 11, 28, 5, 0))


def test_each_answers_in_order_on_one_connection(engine: Engine) -> None:
    checkouts: list[object] = []

    def on_checkout(*_: object) -> None:
        checkouts.append(object())

    read = PreparedRead(engine, BY_ID)
    event.listen(engine, "checkout", on_checkout)
    try:
        rows = read.each([{"id": 3}, {"id": 99}, {"id": 1}, {"id": 3}])
    finally:
        event.remove(engine, "checkout", on_checkout)
    assert rows == [_orm(engine, BY_ID, id=i) for i in (3, 99, 1, 3)]
    assert rows[1] is None
    assert len(checkouts) == 1


def test_each_of_nothing(engine: Engine) -> None:
    assert PreparedRead(engine, BY_ID).each([]) == []


def test_two_rows_are_a_lookup_error(engine: Engine) -> None:
    read = PreparedRead(engine, BY_TAG)
    with pytest.raises(LookupError):
        read.one_or_none(tag="twin")
    with pytest.raises(LookupError):
        read.each([{"tag": "a"}, {"tag": "twin"}])
    # the connection went back to the pool in a usable state
    assert read.one_or_none(tag="a") == (1, T0)


def test_a_database_failure_is_a_dbapi_error_without_parameters(engine: Engine) -> None:
    read = PreparedRead(engine, BY_TAG)
    assert read.one_or_none(tag=SECRET) is None
    metadata.drop_all(engine)
    with pytest.raises(DBAPIError) as caught:
        read.each([{"tag": SECRET}])
    assert type(caught.value) is not DBAPIError  # the specific subclass (as SQLAlchemy's)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)
    assert caught.value.__cause__ is None
    # the failed connection did not poison the pool
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    metadata.create_all(engine)
    assert read.one_or_none(tag="a") is None  # an empty table again


def test_the_failure_class_matches_sqlalchemys(engine: Engine) -> None:
    read = PreparedRead(engine, BY_TAG)
    metadata.drop_all(engine)
    with pytest.raises(DBAPIError) as ours:
        read.one_or_none(tag=SECRET)
    with pytest.raises(DBAPIError) as theirs:
        _orm(engine, BY_TAG, tag=SECRET)
    assert type(ours.value) is type(theirs.value)
