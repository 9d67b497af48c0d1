"""Permit number format, check character and duplicate-free allocation under concurrency."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine

from card_service.migrations import upgrade
from card_service.register.db import make_engine, transaction
from card_service.register.permit_numbers import (
    PermitNumberError,
    allocate_sequence,
    format_permit_number,
    is_valid_permit_number,
    parse_permit_number,
)

from .helpers import AUTHORITY


def test_worked_example_from_the_docs() -> None:
    number = format_permit_number("330106", 2026, 42)
    assert number == "330106202600000422"
    assert parse_permit_number(number) == ("330106", 2026, 42)


@pytest.mark.parametrize(
    ("authority", "year", "sequence", "expected"),
    [
        ("110105", 2026, 1, "11010520260000001"),
        ("440305", 2027, 9_999_999, "44030520279999999"),
        ("330106", 2026, 123_456, "33010620260123456"),
    ],
)
def test_format_has_seventeen_digits_and_a_mod_11_2_check(
    authority: str, year: int, sequence: int, expected: str
) -> None:
    number = format_permit_number(authority, year, sequence)
    assert number[:17] == expected
    weights = [pow(2, 17 - i, 11) for i in range(17)]
    total = sum(int(c) * w for c, w in zip(number[:17], weights, strict=True))
    assert number[17] == "10X98765432"[total % 11]
    assert is_valid_permit_number(number)


def test_every_single_digit_change_is_detected() -> None:
    number = format_permit_number(AUTHORITY, 2026, 4711)
    for position in range(17):
        for digit in "0123456789":
            if digit == number[position]:
                continue
            changed = number[:position] + digit + number[position + 1 :]
            assert not is_valid_permit_number(changed)


@pytest.mark.parametrize(
    "bad",
    ["", "33010620260000042", "3301062026000004222", "33010620260000042x", "330106202600000000"],
)
def test_malformed_numbers_are_refused(bad: str) -> None:
    with pytest.raises(PermitNumberError):
        parse_permit_number(bad)


@pytest.mark.parametrize(
    ("authority", "year", "sequence"),
    [("33010", 2026, 1), ("000000", 2026, 1), ("330106", 2026, 0), ("330106", 2026, 10**7)],
)
def test_out_of_range_parts_are_refused(authority: str, year: int, sequence: int) -> None:
    with pytest.raises(PermitNumberError):
        format_permit_number(authority, year, sequence)


def _allocate(engine: Engine, count: int) -> list[int]:
    values = []
    for _ in range(count):
        with transaction(engine) as session:
            values.append(allocate_sequence(session, AUTHORITY, 2026))
    return values


def test_fifty_threads_allocate_distinct_gapless_sequences(db_engine: Engine) -> None:
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda _: _allocate(db_engine, 2), range(50)))
    values = sorted(v for chunk in results for v in chunk)
    assert values == list(range(1, 101))


def test_rolled_back_allocation_returns_the_number(db_engine: Engine) -> None:
    with pytest.raises(RuntimeError), transaction(db_engine) as session:
        allocate_sequence(session, AUTHORITY, 2026)
        raise RuntimeError("crash before commit")
    assert _allocate(db_engine, 1) == [1]


def test_years_and_authorities_have_their_own_counters(db_engine: Engine) -> None:
    with transaction(db_engine) as session:
        assert allocate_sequence(session, AUTHORITY, 2026) == 1
        assert allocate_sequence(session, AUTHORITY, 2027) == 1
        assert allocate_sequence(session, "110105", 2026) == 1
        assert allocate_sequence(session, AUTHORITY, 2026) == 2


def _process_worker(url: str, count: int, queue: multiprocessing.Queue[list[int]]) -> None:
    engine = make_engine(url)
    try:
        with ThreadPoolExecutor(max_workers=10) as pool:
            chunks = list(pool.map(lambda _: _allocate(engine, count), range(10)))
        queue.put([v for chunk in chunks for v in chunk])
    finally:
        engine.dispose()


def test_two_processes_allocate_without_duplicates(postgres_database: str) -> None:
    engine = make_engine(postgres_database)
    upgrade(engine)
    engine.dispose()
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[list[int]] = ctx.Queue()
    procs = [
        ctx.Process(target=_process_worker, args=(postgres_database, 5, queue)) for _ in (1, 2)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    values = sorted(results[0] + results[1])
    assert values == list(range(1, 101))
