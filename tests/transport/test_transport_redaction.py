"""APDU trace logging: only at TRACE, and PIN/key bytes never appear at any level."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from typing import Any

import pytest

from card_service.card.scp03 import diversify_card_keys
from card_service.card.session import PermitCardSession
from card_service.card.wire import FileId
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


# --- response data: GET RESPONSE and READ BINARY (security review F1, F3) --------------------

GET_RESPONSE = bytes.fromhex("00C000001D")
READ_BINARY = bytes.fromhex("00B0000000")
INIT_UPDATE_RESPONSE = (
    bytes.fromhex("0001")
    + bytes(range(1, 9))
    + bytes.fromhex("010360")
    + (bytes(range(0xA0, 0xB0)))
)


def test_get_response_after_initialize_update_is_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The INITIALIZE UPDATE answer fetched by GET RESPONSE (61xx) is as secret as if it came
    directly: card challenge and cryptogram never appear."""
    caplog.set_level(TRACE, logger="reader_drivers.apdu")
    log_exchange("r", INIT_UPDATE, b"", 0x611D, 0.001)
    log_exchange("r", GET_RESPONSE, INIT_UPDATE_RESPONSE, 0x9000, 0.001)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert INIT_UPDATE_RESPONSE[13:].hex().upper() not in text
    assert "00C000001D | < <29 bytes redacted> 9000" in text
    assert "| < 611D" in text


@pytest.mark.parametrize(
    "command",
    [
        GET_RESPONSE,  # whatever command it continues
        READ_BINARY,
        bytes.fromhex("00B0850000"),  # READ BINARY by SFI (EF.HolderData)
        bytes.fromhex("00B1000004540200000000"),  # READ BINARY, odd INS
        bytes.fromhex("00B2010C00"),  # READ RECORD
        bytes.fromhex("00B2"),  # malformed: nothing known about the data
    ],
    ids=["get-response", "read-binary", "read-binary-sfi", "read-binary-odd", "read-record", "bad"],
)
def test_read_and_get_response_data_redacted(command: bytes) -> None:
    personal = b"Jane Q. Resident, 1990-01-01"
    assert redact_response(command, personal, 0x9000) == f"<{len(personal)} bytes redacted> 9000"
    assert redact_response(command, personal, 0x6282) == f"<{len(personal)} bytes redacted> 6282"
    assert redact_response(command, b"", 0x6982) == "6982"
    # the command header stays visible: it is what one debugs with
    assert redact_command(command) == command.hex().upper()


HOLDER_DATA = (b"Emergency contact: Jane Q. Resident, +49 30 1234567; " * 12)[:600]


class _Spy:
    """Connection proxy: remembers every (command, response data) and can hide extended length,
    so that a wrapped 256-byte read comes back as 61xx + GET RESPONSE."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.exchanges: list[tuple[bytes, bytes, int]] = []
        self.supports_extended_length = False

    @property
    def reader(self) -> str:
        return str(self._conn.reader)

    @property
    def atr(self) -> bytes:
        return bytes(self._conn.atr)

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        data, sw = self._conn.transmit(apdu)
        self.exchanges.append((apdu, bytes(data), int(sw)))
        return bytes(data), int(sw)

    def transaction(self) -> AbstractContextManager[None]:
        return self._conn.transaction()  # type: ignore[no-any-return]


def test_personal_data_never_logged_through_driver(
    card_env: CardEnv, caplog: pytest.LogCaptureFixture
) -> None:
    """Holder data read through the issuer channel (split by 61xx, fetched by GET RESPONSE)
    and read in clear after VERIFY: neither the plain bytes nor the protected response data
    reach the TRACE log; the command headers do."""
    spy = _Spy(card_env.connect())
    session = PermitCardSession(spy)  # type: ignore[arg-type]
    keys = lambda serial, kvn: diversify_card_keys(card_env.master_key, serial, kvn)  # noqa: E731
    session.select()
    session.open_issuer_channel(keys)
    session.begin_personalisation()
    session.write_file(FileId.HOLDER_DATA, HOLDER_DATA)
    session.set_pin("135792")
    caplog.set_level(TRACE)
    assert session.read_file(FileId.HOLDER_DATA) == HOLDER_DATA  # wrapped, short APDUs
    session.select()
    session.verify_pin("135792")
    assert session.read_file(FileId.HOLDER_DATA) == HOLDER_DATA  # plain

    text = "\n".join(r.getMessage() for r in caplog.records)
    get_responses = [e for e in spy.exchanges if e[0][1] == 0xC0]
    assert get_responses, "the wrapped read should have needed GET RESPONSE"
    for command, data, _ in spy.exchanges:
        if command[1] in (0xB0, 0xC0) and len(data) >= 8:
            assert data[:8].hex().upper() not in text, f"data of {command[:4].hex()} logged"
    for i in range(0, len(HOLDER_DATA) - 8, 8):
        assert HOLDER_DATA[i : i + 8].hex().upper() not in text
    assert "00C00000" in text and "00B00000" in text
    assert "bytes redacted> 9000" in text
