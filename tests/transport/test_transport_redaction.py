"""APDU trace logging: only at TRACE, and PIN/key bytes never appear at any level."""

from __future__ import annotations

import logging

import pytest

from reader_drivers.apdu_log import TRACE, log_exchange, redact_command, redact_response
from tests.conftest import CardEnv

PIN = b"13579246"  # ASCII digits: would show as 3133353739323436 in hex
PIN_HEX = PIN.hex().upper()
VERIFY = bytes.fromhex("00200081") + bytes([len(PIN)]) + PIN
CHANGE = bytes.fromhex("00240081") + bytes([16]) + PIN + b"24681357"
UNBLOCK = bytes.fromhex("002C0081") + bytes([16]) + b"87654321" + PIN
EXT_AUTH = bytes.fromhex("8482330010") + bytes(range(16))
WRAPPED = bytes.fromhex("04D6000018") + bytes(range(0x40, 0x58)) + b"\x00"
INIT_UPDATE = bytes.fromhex("8050000008") + bytes(8) + b"\x00"


@pytest.mark.parametrize(
    ("apdu", "expected"),
    [
        (VERIFY, "00200081 08 <8 bytes redacted>"),
        (CHANGE, "00240081 10 <16 bytes redacted>"),
        (UNBLOCK, "002C0081 10 <16 bytes redacted>"),
        (EXT_AUTH, "84823300 10 <16 bytes redacted>"),
        (WRAPPED, "04D60000 18 <24 bytes redacted> 00"),
        (bytes.fromhex("00200081"), "00200081"),  # PIN status query: nothing secret
        (bytes.fromhex("00200081000008") + PIN, "00200081 000008 <8 bytes redacted>"),
        (bytes.fromhex("002000810A") + PIN, "00200081 <9 bytes redacted>"),  # malformed
        (bytes.fromhex("00A4040008F05045524D49540100"), "00A4040008F05045524D49540100"),
    ],
    ids=[
        "verify",
        "change",
        "unblock",
        "ext-auth",
        "wrapped",
        "status",
        "extended",
        "bad",
        "select",
    ],
)
def test_redact_command(apdu: bytes, expected: str) -> None:
    assert redact_command(apdu) == expected


def test_redact_response() -> None:
    assert redact_response(INIT_UPDATE, bytes(range(29)), 0x9000) == "<29 bytes redacted> 9000"
    assert redact_response(WRAPPED, bytes(16), 0x9000) == "<16 bytes redacted> 9000"
    assert redact_response(VERIFY, b"", 0x63C2) == "63C2"
    assert redact_response(bytes.fromhex("0084000008"), b"\x01\x02", 0x9000) == "0102 9000"


def test_trace_level_is_below_debug() -> None:
    assert TRACE < logging.DEBUG
    assert logging.getLevelName(TRACE) == "TRACE"


def test_nothing_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    log_exchange("r", bytes.fromhex("0084000008"), bytes(8), 0x9000, 0.001)
    assert not [r for r in caplog.records if r.name == "reader_drivers.apdu"]


@pytest.mark.parametrize("level", [TRACE, logging.DEBUG, logging.INFO])
def test_pin_never_logged_through_driver(
    card_env: CardEnv, caplog: pytest.LogCaptureFixture, level: int
) -> None:
    """Real traffic through either driver, every logger at ``level``: no PIN bytes anywhere."""
    caplog.set_level(level)
    conn = card_env.connect()
    conn.transmit(bytes.fromhex("00A4040008F05045524D495401"))
    for apdu in (VERIFY, CHANGE, UNBLOCK):
        conn.transmit(apdu)
    text = "\n".join(r.getMessage() for r in caplog.records)
    for needle in (PIN_HEX, PIN_HEX.lower(), PIN.decode(), " ".join(f"{b:02X}" for b in PIN)):
        assert needle not in text
    if level == TRACE:
        assert "00200081 08 <8 bytes redacted>" in text
        assert "00A4040008F05045524D495401" in text
