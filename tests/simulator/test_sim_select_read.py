"""SELECT, READ BINARY, GET CHALLENGE, classes and instructions (sections 2, 3.1, 5.1-5.4)."""

from __future__ import annotations

import pytest
from sim_host import AID, Plain, pin_block
from sim_support import RECORD, channel, personalise, to_personalising

from simulators.card import SimulatedCard

SERIAL = bytes.fromhex("0102030405060708")


def card_info(lcs: int, flags: int, issuer_tries: int = 10) -> bytes:
    body = b"\x5a\x08" + SERIAL + bytes([0x8A, 1, lcs]) + bytes.fromhex("80020101810101")
    body += bytes([0x82, 1, flags]) + bytes([0x83, 1, issuer_tries])
    return bytes([0xE0, len(body)]) + body


def test_select_aid_fci(host: Plain) -> None:
    data, sw = host.select()
    assert sw == 0x9000
    inner = bytes.fromhex("80020101") + bytes.fromhex("8A0101") + b"\x5a\x08" + SERIAL
    fci = b"\x84\x08" + AID + bytes([0xA5, len(inner)]) + inner
    assert data == bytes([0x6F, len(fci)]) + fci
    assert host.send(0x00, 0xA4, 0x04, 0x0C, AID) == (b"", 0x9000)


@pytest.mark.parametrize(
    ("p1", "p2", "data", "sw"),
    [
        (0x04, 0x00, AID[:-1] + b"\x02", 0x6A82),
        (0x04, 0x00, AID + b"\x00", 0x6A82),  # must match exactly
        (0x04, 0x00, bytes(17), 0x6700),
        (0x04, 0x00, b"", 0x6700),
        (0x04, 0x04, AID, 0x6A86),
        (0x01, 0x0C, b"\x01\x01", 0x6A86),
        (0x02, 0x00, b"\x01\x01", 0x6A86),
        (0x02, 0x0C, b"\x01", 0x6700),
        (0x02, 0x0C, b"\x01\x06", 0x6A82),
        (0x02, 0x0C, b"\x3f\x00", 0x6A82),
    ],
)
def test_select_errors(host: Plain, p1: int, p2: int, data: bytes, sw: int) -> None:
    host.select()
    host.select_ef(0x0101)
    assert host.send(0x00, 0xA4, p1, p2, data) == (b"", sw)
    # the previous selection is kept
    assert host.send(0x00, 0xB0, 0x00, 0x00, le=256)[1] == 0x9000


def test_select_ef_without_application(host: Plain) -> None:
    assert host.select_ef(0x0101) == 0x6A82
    assert host.send(0x00, 0xA4, 0x00, 0x0C, b"\x01\x01")[1] == 0x6A82
    assert host.read(1)[1] == 0x6A82  # SFI: no application, so no such file
    assert host.send(0x00, 0xB0, 0x00, 0x00, le=1)[1] == 0x6986


def test_select_mf_deselects(host: Plain) -> None:
    host.select()
    assert host.select_ef(0x0101) == 0x9000
    assert host.send(0x00, 0xA4, 0x00, 0x0C, b"\x3f\x00") == (b"", 0x9000)
    assert host.send(0x00, 0xB0, 0x00, 0x00, le=1)[1] == 0x6986
    assert host.select_ef(0x0101) == 0x6A82


def test_fcp(host: Plain) -> None:
    host.select()
    for p1 in (0x00, 0x02):
        data, sw = host.send(0x00, 0xA4, p1, 0x04, b"\x01\x05")
        assert sw == 0x9000
        body = bytes.fromhex("80020000 820101 83020105 8A0101 C0020400 C10150 C20140")
        assert data == bytes([0x62, len(body)]) + body
    data, _ = host.send(0x00, 0xA4, 0x02, 0x04, b"\x01\x01")
    assert data[2:6] == b"\x80\x02\x00\x1c"  # CardInfo: computed, 28 bytes
    assert data.endswith(b"\xc1\x01\x00\xc2\x01\xff")
    data, _ = host.send(0x00, 0xA4, 0x02, 0x04, b"\x01\x02")
    assert b"\xc0\x02\x80\x00" in data and data.endswith(b"\xc1\x01\x00\xc2\x01\x40")


def test_card_info_blank(host: Plain) -> None:
    host.select()
    assert host.read(1) == (card_info(0x01, 0), 0x9000)
    assert host.read(1, le=10) == (card_info(0x01, 0)[:10], 0x9000)
    assert host.read(1, offset=20, le=10) == (card_info(0x01, 0)[20:], 0x6282)
    assert host.read(1, offset=28, le=256) == (b"", 0x9000)  # Le maximum: no 6282
    assert host.read(1, offset=29)[1] == 0x6B00


def test_card_info_flags_and_states(host: Plain) -> None:
    ch = personalise(host, lock=False)
    assert ch.send(0x00, 0xB0, 0x81, 0x00, le=256)[0] == card_info(0x03, 0x07)
    assert ch.set_status(0x05) == 0x9000
    host.select()
    assert host.read(1)[0] == card_info(0x05, 0x07)


def test_read_by_current_ef_and_offsets(issued: Plain) -> None:
    h = issued
    assert h.select_ef(0x0102) == 0x9000
    data, sw = h.send(0x00, 0xB0, 0x01, 0x00, le=256)
    assert (data, sw) == (RECORD[256:512], 0x9000)
    data, sw = h.send(0x00, 0xB0, 0x03, 0xF0, le=0x20)
    assert (data, sw) == (RECORD[0x3F0:], 0x6282)
    assert h.send(0x00, 0xB0, 0x04, 0x01, le=1)[1] == 0x6B00
    # SFI read makes the EF current
    h.read(3)
    assert h.send(0x00, 0xB0, 0x00, 0x00, le=256) == (b"", 0x9000)


def test_read_extended(issued: Plain) -> None:
    data, sw = issued.read(2, le=0, extended=True)
    assert (data, sw) == (RECORD, 0x9000)
    data, sw = issued.read(2, le=2000, extended=True)
    assert (data, sw) == (RECORD, 0x6282)


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00B08100", 0x6700),  # no Le
        ("00B0810001AA00", 0x6700),  # data field
        ("00B0A10000", 0x6A86),  # SFI with bit 6 set
        ("00B0860000", 0x6A82),  # SFI 6
        ("00B0800000", 0x6A82),  # SFI 0
    ],
)
def test_read_errors(issued: Plain, apdu: str, sw: int) -> None:
    assert issued.raw(bytes.fromhex(apdu)) == (b"", sw)


def test_read_access_conditions_by_state(host: Plain) -> None:
    host.select()
    for sfi in (2, 3, 4):
        assert host.read(sfi)[1] == 0x6985  # BLANK: only CardInfo
    assert host.read(5)[1] == 0x6982  # PIN needed (both fail -> 6982)
    personalise(host, lock=False)
    assert host.read(2)[1] == 0x9000  # PERSONALISING: plain read ALWAYS
    assert host.read(4)[0][:3] == b"\x7f\x49\x43"
    assert host.read(5)[1] == 0x6982
    ch = channel(host)
    data, sw = ch.send(0x00, 0xB0, 0x85, 0x00, le=256)
    assert (data, sw) == (b"", 0x9000)  # ISSUER_SM satisfies HolderData read
    assert ch.update(5, 0, b"emergency: 112") == 0x9000
    assert ch.set_status(0x05) == 0x9000
    host.select()
    assert host.read(5)[1] == 0x6982
    assert host.send(0x00, 0x20, 0x00, 0x81, pin_block("123456"))[1] == 0x9000
    assert host.read(5, le=200) == (b"emergency: 112", 0x6282)
    host.select()  # PIN status cleared by selection
    assert host.read(5)[1] == 0x6982


def test_terminated_reads(host: Plain) -> None:
    ch = personalise(host, lock=False)
    assert ch.set_status(0x0C) == 0x9000
    host.select()
    data, sw = host.read(1)
    assert sw == 0x9000 and data == card_info(0x0C, 0)
    for sfi in (2, 3, 4):
        assert host.read(sfi)[1] == 0x6985
    assert host.read(5)[1] == 0x6982
    assert host.select_ef(0x0102) == 0x9000  # SELECT still allowed
    assert host.send(0x00, 0x84, 0x00, 0x00, le=8)[1] == 0x9000


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("0084000001", 0x9000),
        ("0084000020", 0x9000),
        ("0084000021", 0x6700),
        ("0084000000", 0x6700),
        ("00840000", 0x6700),
        ("00840000000000", 0x6700),  # extended Le 65536
        ("0084000101", 0x6A86),
        ("0084010001", 0x6A86),
        ("008400000100", 0x6700),  # Le with data field? Lc=01 data 00 -> no Le
    ],
)
def test_get_challenge(host: Plain, apdu: str, sw: int) -> None:
    data, got = host.raw(bytes.fromhex(apdu))
    assert got == sw
    if sw == 0x9000:
        assert len(data) == bytes.fromhex(apdu)[4]


def test_get_challenge_random(host: Plain) -> None:
    a = host.send(0x00, 0x84, 0x00, 0x00, le=32)[0]
    b = host.send(0x00, 0x84, 0x00, 0x00, le=32)[0]
    assert a != b


@pytest.mark.parametrize(
    ("cla", "ins", "sw"),
    [
        (0x01, 0xA4, 0x6E00),  # logical channel 1
        (0x03, 0xB0, 0x6E00),
        (0x08, 0xB0, 0x6E00),
        (0x0C, 0xB0, 0x6E00),
        (0x90, 0xD6, 0x6E00),  # chaining only with 00/04
        (0xFF, 0xA4, 0x6E00),
        (0xA0, 0xA4, 0x6E00),
        (0x00, 0x50, 0x6D00),  # INITIALIZE UPDATE in ISO class
        (0x00, 0xF0, 0x6D00),
        (0x00, 0x82, 0x6D00),
        (0x80, 0xB0, 0x6D00),
        (0x80, 0xF0, 0x6D00),  # SET STATUS only wrapped (CLA 84)
        (0x84, 0x50, 0x6D00),
        (0x00, 0x22, 0x6D00),  # PACE MSE:SET AT, not in 1.0
        (0x00, 0x86, 0x6D00),  # PACE GENERAL AUTHENTICATE
        (0x00, 0x00, 0x6D00),
        (0x04, 0xC0, 0x6D00),  # GET RESPONSE is never wrapped
        (0x10, 0xB0, 0x6884),  # only UPDATE BINARY can be chained
        (0x10, 0xA4, 0x6884),
        (0x14, 0x20, 0x6884),
        (0x10, 0xC0, 0x6884),
    ],
)
def test_class_and_instruction(host: Plain, cla: int, ins: int, sw: int) -> None:
    host.select()
    assert host.raw(bytes([cla, ins, 0, 0])) == (b"", sw)


def test_get_response_errors(host: Plain) -> None:
    assert host.raw(bytes.fromhex("00C0000000")) == (b"", 0x6985)
    assert host.raw(bytes.fromhex("00C0010000")) == (b"", 0x6A86)
    assert host.raw(bytes.fromhex("00C00000")) == (b"", 0x6700)


def test_61xx_plain(host: Plain, card: SimulatedCard) -> None:
    """A response longer than Ne is chained (INTERNAL AUTHENTICATE with a short Le)."""
    personalise(host)
    host.select()
    data, sw = host.send(0x00, 0x88, 0x00, 0x01, bytes(8), le=0x10)
    assert (len(data), sw) == (16, 0x6130)
    # any other command discards the pending response
    host.send(0x00, 0x84, 0x00, 0x00, le=8)
    assert host.raw(bytes.fromhex("00C0000000"))[1] == 0x6985
    data, sw = host.send(0x00, 0x88, 0x00, 0x01, bytes(8), le=0x10)
    rest, sw = host.raw(bytes.fromhex("00C0000020"))
    assert (len(rest), sw) == (32, 0x6110)
    assert host.raw(bytes.fromhex("00C0000000"))[1] == 0x9000
    assert host.raw(bytes.fromhex("00C0000000"))[1] == 0x6985


def test_to_personalising_keeps_reads(host: Plain) -> None:
    to_personalising(host)
    assert host.read(2) == (b"", 0x9000)
