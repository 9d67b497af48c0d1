"""APDU parsing (section 3): all four cases, short and extended, and every malformation."""

from __future__ import annotations

import pytest
from sim_host import Plain

from simulators.apdu import CommandApdu, MalformedApdu, parse_apdu
from simulators.card import SimulatedCard


@pytest.mark.parametrize(
    ("raw", "data", "ne", "extended"),
    [
        ("00B00000", "", None, False),
        ("00B0000010", "", 16, False),
        ("00B0000000", "", 256, False),
        ("00A4040002AABB", "AABB", None, False),
        ("00A4040002AABB00", "AABB", 256, False),
        ("00A4040002AABB07", "AABB", 7, False),
        ("00B00000000100", "", 256, True),
        ("00B00000000000", "", 65536, True),
        ("00D60000000002AABB", "AABB", None, True),
        ("00D60000000002AABB0000", "AABB", 65536, True),
        ("00D60000000002AABB0102", "AABB", 0x102, True),
    ],
)
def test_parse_cases(raw: str, data: str, ne: int | None, extended: bool) -> None:
    apdu = parse_apdu(bytes.fromhex(raw))
    assert apdu.data == bytes.fromhex(data)
    assert apdu.ne == ne
    assert apdu.extended is extended


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "00",
        "00B000",
        "00D6000003AABB",  # body shorter than Lc
        "00D6000001AABBCCDD",  # body longer than Lc (+Le)
        "00D6000000AA",  # Lc = 0 in short form
        "00D600000000",  # extended header with a missing byte
        "00D60000000000AA",  # extended Lc 0000 with data
        "00D60000000003AABB",  # extended body short
        "00D60000000001AABB",  # extended body: one byte too many for 3E, one short of 4E
    ],
)
def test_malformed(raw: str) -> None:
    with pytest.raises(MalformedApdu):
        parse_apdu(bytes.fromhex(raw))


def test_nc_limit() -> None:
    ok = bytes.fromhex("00D60000") + b"\x00" + (33024).to_bytes(2, "big") + bytes(33024)
    assert len(parse_apdu(ok).data) == 33024
    too_long = bytes.fromhex("00D60000") + b"\x00" + (33025).to_bytes(2, "big") + bytes(33025)
    with pytest.raises(MalformedApdu):
        parse_apdu(too_long)


def test_repr_hides_body() -> None:
    apdu = CommandApdu(0, 0x20, 0, 0x81, b"123456\xff\xff", None, False)
    assert "123456" not in repr(apdu) and "3132" not in repr(apdu)


def test_lc_field_as_sent() -> None:
    assert parse_apdu(bytes.fromhex("04D6000002AABB")).lc_field == b"\x02"
    assert parse_apdu(bytes.fromhex("04D60000000002AABB")).lc_field == b"\x00\x00\x02"


@pytest.mark.parametrize("raw", ["", "00", "00A404", "00D6000003AABB", "00D60000000003AABB"])
def test_malformed_apdu_gives_6700_and_nothing_else(
    host: Plain, card: SimulatedCard, raw: str
) -> None:
    host.select()
    assert host.select_ef(0x0101) == 0x9000
    assert host.raw(bytes.fromhex(raw)) == (b"", 0x6700)
    # current EF still selected: nothing else happened
    data, sw = host.send(0x00, 0xB0, 0x00, 0x00, le=256)
    assert sw == 0x9000 and data[0] == 0xE0


def test_oversized_apdu(host: Plain) -> None:
    apdu = bytes.fromhex("00D60000") + b"\x00" + (40000).to_bytes(2, "big") + bytes(40000)
    assert host.raw(apdu) == (b"", 0x6700)
