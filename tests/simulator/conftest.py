"""Fixtures for the simulator tests (raw APDU level, in-process card)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_host import Channel, Plain
from sim_support import KVN, MASTER_KEY, personalise, to_personalising

from simulators.card import SimulatedCard


@pytest.fixture
def card() -> SimulatedCard:
    c = SimulatedCard.manufacture(
        master_keys={KVN: MASTER_KEY}, serial=bytes.fromhex("0102030405060708")
    )
    c.power_on()
    return c


@pytest.fixture
def image_card(tmp_path: Path) -> SimulatedCard:
    c = SimulatedCard.manufacture(
        master_keys={KVN: MASTER_KEY}, image_path=tmp_path / "card.card", durable=False
    )
    c.power_on()
    return c


@pytest.fixture
def host(card: SimulatedCard) -> Plain:
    return Plain(card)


@pytest.fixture
def issued(host: Plain) -> Plain:
    personalise(host)
    host.select()
    return host


@pytest.fixture
def personalising(host: Plain) -> Channel:
    return to_personalising(host)
