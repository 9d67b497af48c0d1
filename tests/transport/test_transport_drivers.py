"""Driver selection and simulator-driver specifics."""

from __future__ import annotations

import subprocess
import sys

import pytest

from card_service.card import wire
from reader_drivers import CommunicationError, DriverNotAllowed, get_driver
from reader_drivers.sim import SimReaderDriver
from tests.conftest import new_blank_card


def test_get_driver_by_name_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_driver("sim", allow_simulator=True).name == "sim"
    monkeypatch.setenv("PERMIT_READERS", "sim")
    assert get_driver(allow_simulator=True).name == "sim"


def test_simulator_driver_denied_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """The transport does not decide the environment: its caller must allow the simulator."""
    with pytest.raises(DriverNotAllowed, match="'sim' is not allowed"):
        get_driver("sim")
    with pytest.raises(DriverNotAllowed):
        get_driver(" SIM ", allow_simulator=False)
    monkeypatch.setenv("PERMIT_READERS", "sim")
    with pytest.raises(DriverNotAllowed):
        get_driver()


def test_get_driver_unknown_lists_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="pcsc, sim"):
        get_driver("usb")
    monkeypatch.setenv("PERMIT_READERS", "nfc")
    with pytest.raises(ValueError, match="'nfc'"):
        get_driver()


def test_importing_reader_drivers_does_not_import_pyscard() -> None:
    code = "import sys, reader_drivers, reader_drivers.sim; print('smartcard' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_short_only_reader_rejects_extended_apdus() -> None:
    driver = SimReaderDriver(slots=1, extended_length=False)
    card, _ = new_blank_card()
    driver.insert(0, card)
    conn = driver.connect(driver.reader_names[0])
    assert not conn.supports_extended_length
    with pytest.raises(CommunicationError, match="extended"):
        conn.transmit(bytes.fromhex("00B00000000000"))
    with pytest.raises(CommunicationError):
        conn.transmit(bytes.fromhex("00D60000FF") + bytes(255) + b"\x00\x00")
    # short APDUs of maximal size still pass
    aid = bytes([0x00, 0xA4, 0x04, 0x00, len(wire.AID)]) + wire.AID + b"\x00"
    assert conn.transmit(aid)[1] == 0x9000


def test_insert_into_occupied_slot_and_remove_empty() -> None:
    from reader_drivers import ReaderBusy

    driver = SimReaderDriver(slots=1)
    card, _ = new_blank_card()
    driver.insert(0, card)
    other, _ = new_blank_card()
    with pytest.raises(ReaderBusy):
        driver.insert(0, other)
    assert driver.remove(0) is card
    assert driver.remove(0) is None
    assert not card.powered  # type: ignore[union-attr]
