"""Blank simulated cards get their key sets from the issuer key store when it exists.

The master key never leaves the store: the store derives each card's keys, the fleet loads
them into the blank card, and the host opens the issuer channel with the same store through
``KeyManager.scp03_key_provider()``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from api.cli.common import CliError
from api.cli.sim import _card_key_loader
from card_service.card.errors import SecureChannelError
from card_service.card.session import PermitCardSession
from card_service.card.wire import LifeCycle
from keys import KeyManager
from reader_drivers.sim import SimReaderDriver
from simulators.fleet import SimFleet

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PERMIT_HOME", str(tmp_path))
    monkeypatch.setenv("PERMIT_KEY_PASSPHRASE", "a long test passphrase 7f3c")
    monkeypatch.delenv("PERMIT_KEY_STORE", raising=False)
    return tmp_path


def _personalise(fleet: SimFleet, provider: object) -> PermitCardSession:
    driver = SimReaderDriver(slots=1)
    session = PermitCardSession(driver.connect(driver.insert(0, fleet.cards[0])))
    session.select()
    session.open_issuer_channel(provider)  # type: ignore[arg-type]
    return session


def test_issuer_store_keys_open_the_channel(home: Path) -> None:
    manager = KeyManager()
    manager.init(NOW)
    fleet = SimFleet(home / "sim", _card_key_loader("auto", home / "sim" / "dev.json"))
    fleet.cards = fleet._load_cards()
    assert not (home / "sim" / "dev.json").exists(), "auto must use the issuer store"

    session = _personalise(fleet, KeyManager().scp03_key_provider())
    session.begin_personalisation()
    assert session.read_card_info().life_cycle is LifeCycle.PERSONALISING


def test_dev_keys_do_not_open_with_the_issuer_store(home: Path) -> None:
    KeyManager().init(NOW)
    fleet = SimFleet(home / "sim", _card_key_loader("dev", home / "sim" / "dev.json"))
    fleet.cards = fleet._load_cards()
    assert (home / "sim" / "dev.json").stat().st_mode & 0o777 == 0o600

    with pytest.raises(SecureChannelError):
        _personalise(fleet, KeyManager().scp03_key_provider())
    assert fleet.cards[0].life_cycle is LifeCycle.BLANK


def test_issuer_mode_without_keys_is_a_clear_error(home: Path) -> None:
    with pytest.raises(CliError, match="permit keys init"):
        _card_key_loader("issuer", home / "sim" / "dev.json")
