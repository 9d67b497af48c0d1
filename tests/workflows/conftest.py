"""Workflow fixtures: a migrated register, an in-memory PKI, simulated cards and readers."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine

from card_service.card.scp03 import StaticKeys, diversify_card_keys
from card_service.migrations import upgrade
from card_service.record.ephemeral_pki import EphemeralPki
from card_service.register.db import make_engine
from card_service.register.service import Register
from card_service.workflows import IssuanceWorkflow, IssuerContext
from card_service.workflows.application import PermitApplication, synthetic_application
from card_service.workflows.tracking import ensure_schema
from reader_drivers.sim import SimReaderDriver
from simulators.card import SimulatedCard
from tests.dbfixtures import NOW, db_url, postgres_database

__all__ = ["NOW", "World", "db_url", "postgres_database", "world"]

KVN = 1
AUTHORITY = "330106"
_PKI = EphemeralPki.create(NOW - dt.timedelta(days=30))
_SIGNER = _PKI.new_signer(NOW - dt.timedelta(days=10))
_TRUST = _PKI.trust(NOW)


@dataclass
class World:
    engine: Engine
    register: Register
    issuer: IssuerContext
    driver: SimReaderDriver
    master_key: bytes = field(default_factory=lambda: os.urandom(16))
    seed: int = 0

    def key_provider(self, serial: bytes, kvn: int) -> StaticKeys:
        return diversify_card_keys(self.master_key, serial, kvn)

    def new_card(self) -> SimulatedCard:
        return SimulatedCard.manufacture(master_keys={KVN: self.master_key}, kvn=KVN, durable=False)

    def application(self) -> tuple[PermitApplication, int]:
        """A new approved application (synthetic people may collide: skip those)."""
        while True:
            self.seed += 1
            app = synthetic_application(NOW, seed=self.seed, portrait_bytes=4_000)
            decision = self.register.submit_application(
                app.applicant_data(), app.application_data(), "officer", NOW
            )
            if decision.approved:
                return app, decision.application_id

    def workflow(self, **kw: object) -> IssuanceWorkflow:
        return IssuanceWorkflow(self.register, self.issuer, self.driver, **kw)  # type: ignore[arg-type]


def make_world(url: str, slots: int = 2, *, migrate: bool = True) -> World:
    engine = make_engine(url)
    if migrate:
        upgrade(engine)
        ensure_schema(engine)
    register = Register(engine, authority_code=AUTHORITY)
    world = World(engine, register, None, SimReaderDriver(slots=slots))  # type: ignore[arg-type]
    world.issuer = IssuerContext(world.key_provider, _SIGNER.key, _SIGNER.chain, _TRUST)
    return world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_world(f"sqlite:///{tmp_path / 'register.db'}")
    yield w
    w.engine.dispose()
