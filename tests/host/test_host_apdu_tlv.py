"""APDU encoding, BER-TLV / COMPACT-TLV parsing, ATR capabilities, PIN blocks."""

from __future__ import annotations

import pytest

from card_service.card import wire
from card_service.card.apdu import CommandApdu, ResponseApdu
from card_service.card.atr import CardCapabilities, historical_bytes, parse_capabilities
from card_service.card.errors import TlvError
from card_service.card.pin import pin_block, puk_block
from card_service.card.tlv import build_tlv, parse_compact_tlv, parse_tlv, require_tlv


@pytest.mark.parametrize(
    ("apdu", "extended", "expected"),
    [
        (CommandApdu(0x00, 0xA4, 0x04, 0x00), False, "00A40400"),
        (CommandApdu(0x00, 0xA4, 0x04, 0x00), True, "00A40400"),
        (CommandApdu(0x00, 0xB0, 0x00, 0x10, ne=256), False, "00B0001000"),
        (CommandApdu(0x00, 0xB0, 0x00, 0x10, ne=5), False, "00B0001005"),
        (CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=65536), True, "00B00000000000"),
        (CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=300), True, "00B0000000012C"),
        (CommandApdu(0x00, 0xD6, 0x00, 0x00, b"\x01\x02"), False, "00D600000201 02"),
        (CommandApdu(0x00, 0xD6, 0x00, 0x00, b"\x01\x02"), True, "00D60000000002 0102"),
        (CommandApdu(0x00, 0x88, 0x00, 0x01, b"\xaa", 256), False, "0088000101AA00"),
        (CommandApdu(0x00, 0x88, 0x00, 0x01, b"\xaa", 65536), True, "00880001000001AA0000"),
        (CommandApdu(0x00, 0x88, 0x00, 0x01, b"\xaa", 258), True, "00880001000001AA0102"),
    ],
)
def test_command_encoding(apdu: CommandApdu, extended: bool, expected: str) -> None:
    assert apdu.encode(extended).hex().upper() == expected.replace(" ", "")


def test_long_data_needs_extended() -> None:
    apdu = CommandApdu(0, 0xD6, 0, 0, bytes(256))
    assert apdu.needs_extended
    with pytest.raises(ValueError, match="extended"):
        apdu.encode(False)
    assert apdu.encode(True)[:7] == bytes.fromhex("00D60000000100")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cla": 256, "ins": 0, "p1": 0, "p2": 0},
        {"cla": 0, "ins": -1, "p1": 0, "p2": 0},
        {"cla": 0, "ins": 0, "p1": 0, "p2": 0, "ne": 0},
        {"cla": 0, "ins": 0, "p1": 0, "p2": 0, "ne": 65537},
        {"cla": 0, "ins": 0, "p1": 0, "p2": 0, "data": bytes(65536)},
    ],
)
def test_command_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        CommandApdu(**kwargs)  # type: ignore[arg-type]


def test_reprs_hide_data() -> None:
    apdu = CommandApdu(0, 0x20, 0, 0x81, b"123456\xff\xff")
    assert "3132" not in repr(apdu) and "123456" not in repr(apdu)
    assert "nc=8" in repr(apdu)
    resp = ResponseApdu(b"secret", 0x9000)
    assert "secret" not in repr(resp) and resp.sw1 == 0x90 and resp.sw2 == 0


def test_tlv_parse_multibyte_tag_and_long_length() -> None:
    value = bytes(range(200))
    encoded = build_tlv(0x7F49, build_tlv(0x86, value))
    assert encoded[:5] == bytes.fromhex("7F4981CB86")
    (outer,) = parse_tlv(encoded)
    assert outer.tag == 0x7F49 and outer.constructed
    assert require_tlv(outer.children(), 0x86, 200) == value
    big = build_tlv(0x53, bytes(300))
    assert big[:4] == bytes.fromhex("53820 12C".replace(" ", ""))
    assert parse_tlv(big)[0].value == bytes(300)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "5A",
        "5A05 0102",
        "7F",
        "7F49",
        "5A81",
        "5A8201",
        "5A80",
        "5A84 00000001 00",
        "00 00",
        "5A 02 0102 8A",
    ],
)
def test_tlv_malformed_raises_typed_error(raw: str) -> None:
    data = bytes.fromhex(raw.replace(" ", ""))
    if not data:
        assert parse_tlv(data) == []
        return
    with pytest.raises(TlvError):
        parse_tlv(data)


def test_require_tlv_errors() -> None:
    objs = parse_tlv(bytes.fromhex("5A0101"))
    with pytest.raises(TlvError, match="missing"):
        require_tlv(objs, 0x8A)
    with pytest.raises(TlvError, match="length"):
        require_tlv(objs, 0x5A, 8)


def test_compact_tlv() -> None:
    assert parse_compact_tlv(bytes.fromhex("3180739001C0")) == {
        3: b"\x80",
        7: bytes.fromhex("9001C0"),
    }
    with pytest.raises(TlvError):
        parse_compact_tlv(bytes.fromhex("7390"))


def test_atr_capabilities_of_the_permit_card() -> None:
    assert historical_bytes(wire.atr()) == wire.HISTORICAL_BYTES
    assert parse_capabilities(wire.atr()) == CardCapabilities(True, True)


def test_atr_without_extended_bit() -> None:
    hist = bytes.fromhex("80 3180 73900180".replace(" ", ""))
    atr = bytes((0x3B, 0x80 | len(hist), 0x80, 0x01)) + hist
    atr += bytes((_tck(atr),))
    assert parse_capabilities(atr) == CardCapabilities(command_chaining=True)


@pytest.mark.parametrize("atr", ["", "3B", "3B8D80", "3B8D8001 80", "3B00", "12 34"])
def test_atr_malformed_means_no_capabilities(atr: str) -> None:
    assert parse_capabilities(bytes.fromhex(atr.replace(" ", ""))) == CardCapabilities()


def _tck(atr: bytes) -> int:
    tck = 0
    for b in atr[1:]:
        tck ^= b
    return tck


def test_pin_blocks() -> None:
    assert pin_block("123456") == b"123456\xff\xff"
    assert pin_block("12345678") == b"12345678"
    assert puk_block("87654321") == b"87654321"


FULLWIDTH_PIN = "\uff11\uff12\uff13\uff14\uff15\uff16"


@pytest.mark.parametrize("pin", ["12345", "123456789", "12345a", FULLWIDTH_PIN, "", "12 456"])
def test_bad_pin_rejected_without_echo(pin: str) -> None:
    with pytest.raises(ValueError) as info:
        pin_block(pin)
    if pin.strip():
        assert pin not in str(info.value)


@pytest.mark.parametrize("puk", ["1234567", "123456789", "1234567x"])
def test_bad_puk_rejected_without_echo(puk: str) -> None:
    with pytest.raises(ValueError) as info:
        puk_block(puk)
    assert puk not in str(info.value)
