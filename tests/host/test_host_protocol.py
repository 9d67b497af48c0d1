"""CardProtocol: exact bytes for extended length, chaining, GET RESPONSE, 6Cxx retry."""

from __future__ import annotations

import pytest

from card_service.card.apdu import CommandApdu
from card_service.card.errors import (
    FileNotFound,
    ResponseFormatError,
    SecurityStatusNotSatisfied,
    WrongLength,
)
from card_service.card.protocol import CardProtocol
from tests.host.conftest import ScriptedConnection

#: A card ATR that announces chaining but not extended length.


def _with_tck(atr: bytes) -> bytes:
    tck = 0
    for b in atr[1:]:
        tck ^= b
    return atr + bytes((tck,))


ATR_NO_EXTENDED = _with_tck(bytes.fromhex("3B88800180318073900180"))


def update(n: int) -> CommandApdu:
    return CommandApdu(0x00, 0xD6, 0x00, 0x00, bytes(i % 256 for i in range(n)))


def test_extended_when_reader_and_card_support_it() -> None:
    conn = ScriptedConnection(responder=lambda apdu: (b"", 0x9000))
    CardProtocol(conn).send(update(300))
    (sent,) = conn.sent
    assert sent[:7] == bytes.fromhex("00D6000000012C")
    assert sent[7:] == update(300).data


def test_short_commands_stay_short_on_extended_reader() -> None:
    conn = ScriptedConnection([("00B0000000", "AA", 0x9000)])
    assert CardProtocol(conn).send(CommandApdu(0, 0xB0, 0, 0, ne=256)) == b"\xaa"


@pytest.mark.parametrize(
    ("extended_reader", "atr"),
    [(False, None), (True, ATR_NO_EXTENDED)],
    ids=["reader-short-only", "card-without-extended"],
)
def test_chaining_otherwise(extended_reader: bool, atr: bytes | None) -> None:
    conn = ScriptedConnection(extended=extended_reader, atr=atr, responder=lambda a: (b"", 0x9000))
    proto = CardProtocol(conn)
    assert not proto.extended_length
    data = update(600).data
    proto.send(update(600))
    assert [len(a) for a in conn.sent] == [5 + 255, 5 + 255, 5 + 90]
    assert conn.sent[0][:5] == bytes.fromhex("10D60000FF")
    assert conn.sent[1][:5] == bytes.fromhex("10D60000FF")
    assert conn.sent[2][:5] == bytes.fromhex("00D600005A")
    assert b"".join(a[5:] for a in conn.sent) == data
    assert conn.max_depth >= 1


def test_chain_stops_at_first_error() -> None:
    conn = ScriptedConnection(
        [("10D60000FF" + "00" * 255, "", 0x9000), ("10D60000FF" + "00" * 255, "", 0x6883)],
        extended=False,
    )
    with pytest.raises(Exception) as info:
        CardProtocol(conn).send(CommandApdu(0, 0xD6, 0, 0, bytes(700)))
    assert getattr(info.value, "sw", None) == 0x6883
    conn.assert_done()


def test_ne_capped_to_256_without_extended() -> None:
    conn = ScriptedConnection([("00B0000000", "", 0x9000)], extended=False)
    CardProtocol(conn).send(CommandApdu(0, 0xB0, 0, 0, ne=4000))
    conn.assert_done()


def test_ne_extended_encoding() -> None:
    conn = ScriptedConnection([("00B00000000FA0", "", 0x9000)])
    CardProtocol(conn).send(CommandApdu(0, 0xB0, 0, 0, ne=4000))
    conn.assert_done()


def test_get_response_loop() -> None:
    conn = ScriptedConnection(
        [
            ("00A4040008F05045524D49540100", "11" * 256, 0x6100),
            ("00C0000000", "22" * 256, 0x6110),
            ("00C0000010", "33" * 16, 0x9000),
        ]
    )
    from card_service.card.wire import AID

    data = CardProtocol(conn).send(CommandApdu(0, 0xA4, 4, 0, AID, 256))
    assert data == b"\x11" * 256 + b"\x22" * 256 + b"\x33" * 16
    conn.assert_done()


def test_get_response_error_is_final() -> None:
    conn = ScriptedConnection([("00B0000000", "11", 0x6105), ("00C0000005", "", 0x6985)])
    with pytest.raises(Exception) as info:
        CardProtocol(conn).send(CommandApdu(0, 0xB0, 0, 0, ne=256))
    assert getattr(info.value, "sw", None) == 0x6985


def test_endless_61xx_is_a_format_error() -> None:
    conn = ScriptedConnection(responder=lambda a: (b"\x00", 0x6101))
    with pytest.raises(ResponseFormatError):
        CardProtocol(conn).send(CommandApdu(0, 0xB0, 0, 0, ne=256))


def test_6cxx_retry_with_exact_le() -> None:
    conn = ScriptedConnection([("0084000020", "", 0x6C08), ("0084000008", "AB" * 8, 0x9000)])
    assert CardProtocol(conn).send(CommandApdu(0, 0x84, 0, 0, ne=32)) == b"\xab" * 8
    conn.assert_done()


def test_6282_is_success_with_data() -> None:
    conn = ScriptedConnection([("00B0000010", "0102", 0x6282)])
    assert CardProtocol(conn).send(CommandApdu(0, 0xB0, 0, 0, ne=16)) == b"\x01\x02"


@pytest.mark.parametrize(
    ("sw", "error"),
    [(0x6A82, FileNotFound), (0x6982, SecurityStatusNotSatisfied), (0x6700, WrongLength)],
)
def test_errors_are_typed(sw: int, error: type[Exception]) -> None:
    conn = ScriptedConnection([("00A4020C020199", "", sw)])
    with pytest.raises(error) as info:
        CardProtocol(conn).send(CommandApdu(0, 0xA4, 2, 0x0C, b"\x01\x99"))
    assert "SELECT" in str(info.value)


def test_transceive_returns_any_sw() -> None:
    conn = ScriptedConnection([("0020008100", "", 0x63C2)])
    resp = CardProtocol(conn).transceive(CommandApdu(0, 0x20, 0, 0x81, ne=256))
    assert resp.sw == 0x63C2 and resp.data == b""


def test_transport_errors_propagate() -> None:
    from reader_drivers.errors import CardRemoved

    def boom(apdu: bytes) -> tuple[bytes, int]:
        raise CardRemoved("Scripted Reader 0")

    with pytest.raises(CardRemoved):
        CardProtocol(ScriptedConnection(responder=boom)).send(CommandApdu(0, 0x84, 0, 0, ne=8))
