"""Workflow fixtures: a sandbox station (migrated register, run-time PKI), simulated cards.

Every workflow test that takes ``world`` runs on SQLite and on PostgreSQL (``db_url``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from card_service.card.access import CardAccess
from card_service.office.ephemeral import Sandbox
from card_service.record.ephemeral_pki import EphemeralPki
from reader_drivers.sim import SimReaderDriver
from simulators.card import SimulatedCard
from tests.dbfixtures import NOW, db_url, postgres_database

__all__ = ["NOW", "World", "db_url", "make_world", "postgres_database", "world"]

KVN = 1
#: One PKI per test process (key generation is the slow part); each world gets its own
#: document signer and master key.
_PKI = EphemeralPki.create(NOW - dt.timedelta(days=30))


@dataclass
class World(Sandbox):
    """A sandbox whose reader driver is the in-process simulator driver."""

    driver: SimReaderDriver

    @property
    def cards(self) -> CardAccess:
        """The workflows' card access over :attr:`driver` (a stateless wrapper)."""
        return CardAccess(self.driver)

    def new_card(self) -> SimulatedCard:
        return SimulatedCard.manufacture(
            master_keys={self.kvn: self.master_key}, kvn=self.kvn, durable=False
        )


def make_world(url: str, slots: int = 2, *, migrate: bool = True) -> World:
    world = World.create(url, SimReaderDriver(slots=slots), NOW, pki=_PKI, migrate=migrate)
    assert isinstance(world, World)
    return world


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    """A station on a migrated register: every workflow test runs on SQLite and PostgreSQL."""
    w = make_world(db_url)
    yield w
    w.close()
