"""Fixtures of the fault tests: a PostgreSQL of the test's own (tests/faults/postgres.py) and
the shared-state suite's private Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.postgres import PrivatePostgres, postgres_unavailable
from tests.shared_state.conftest import free_port, private_redis  # noqa: F401 (fixture)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A fresh cluster on a free port, its database ``permit`` empty; destroyed afterwards."""
    reason = postgres_unavailable()
    if reason is not None:
        pytest.skip(reason)
    server = PrivatePostgres.create(free_port())
    try:
        yield server
    finally:
        server.destroy()
