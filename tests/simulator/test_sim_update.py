"""UPDATE BINARY, command chaining, extended length (sections 2, 3, 5.3)."""

from __future__ import annotations

import os

import pytest
from sim_host import Channel, Plain, build
from sim_support import channel, personalise

BIG = os.urandom(32768)


def test_write_rules(personalising: Channel, host: Plain) -> None:
    ch = personalising
    assert ch.update(2, 0, b"abc") == 0x9000
    assert ch.update(2, 3, b"def") == 0x9000  # at the current size: extends
    assert ch.update(2, 1, b"XY") == 0x9000  # overwrite inside
    assert ch.update(2, 7, b"!") == 0x6B00  # would leave a hole
    assert ch.send(0x00, 0xB0, 0x82, 0x00, le=256) == (b"aXYdef", 0x9000)
    # by current EF, offset from P1 and P2
    assert ch.send(0x00, 0xA4, 0x02, 0x0C, b"\x01\x03")[1] == 0x9000  # wrapped SELECT by FID
    assert ch.send(0x00, 0xD6, 0x00, 0x00, b"E1")[1] == 0x9000
    assert ch.send(0x00, 0xB0, 0x00, 0x00, le=256) == (b"E1", 0x9000)


@pytest.mark.parametrize(
    ("p1", "p2", "data", "sw"),
    [
        (0x85, 0x00, bytes(1025), 0x6A84),  # HolderData max 1024
        (0x85, 0x00, bytes(1024), 0x9000),
        (0x83, 0x00, bytes(8193), 0x6A84),
        (0x81, 0x00, b"x", 0x6982),  # CardInfo NEVER
        (0x84, 0x00, b"x", 0x6982),  # CardKey NEVER
        (0x86, 0x00, b"x", 0x6A82),
        (0xC2, 0x00, b"x", 0x6A86),
        (0x82, 0x00, b"", 0x6700),
    ],
)
def test_update_errors(personalising: Channel, p1: int, p2: int, data: bytes, sw: int) -> None:
    assert personalising.send(0x00, 0xD6, p1, p2, data)[1] == sw


def test_update_no_current_ef(personalising: Channel) -> None:
    assert personalising.send(0x00, 0xD6, 0x00, 0x00, b"x")[1] == 0x6986


def test_update_plain_is_refused(host: Plain) -> None:
    personalise(host, lock=False)
    host.select()
    assert host.send(0x00, 0xD6, 0x82, 0x00, b"x")[1] == 0x6982
    host.select_ef(0x0102)
    assert host.send(0x00, 0xD6, 0x00, 0x00, b"x")[1] == 0x6982


def test_update_state_rules(host: Plain) -> None:
    host.select()
    ch = channel(host)
    assert ch.update(2, 0, b"x") == 0x6985  # BLANK
    assert ch.update(1, 0, b"x") == 0x6982  # NEVER beats state
    assert ch.set_status(0x03) == 0x9000
    assert ch.update(3, 0, b"end1") == 0x9000
    assert ch.update(3, 0, b"END1") == 0x9000  # PERSONALISING: any offset <= size
    personalise_rest(ch)
    assert ch.set_status(0x05) == 0x9000
    # ISSUED: only appending to EF.Endorsements
    assert ch.update(3, 4, b"end2") == 0x9000
    assert ch.update(3, 0, b"zzzz") == 0x6985
    assert ch.update(3, 9, b"zzzz") == 0x6985
    assert ch.update(2, 0, b"x") == 0x6985
    assert ch.update(5, 0, b"x") == 0x6985
    assert ch.send(0x00, 0xB0, 0x83, 0x00, le=256) == (b"END1end2", 0x9000)
    assert ch.set_status(0x0C) == 0x9000
    assert ch.update(3, 0, b"x") == 0x6985


def personalise_rest(ch: Channel) -> None:
    from sim_host import pin_block

    assert ch.update(2, 0, b"record") == 0x9000
    assert ch.send(0x00, 0x47, 0x00, 0x01)[1] == 0x9000
    assert ch.send(0x00, 0x24, 0x01, 0x81, pin_block("1234567"))[1] == 0x9000
    assert ch.send(0x00, 0x24, 0x01, 0x82, pin_block("12345678"))[1] == 0x9000


def test_extended_32k_record(personalising: Channel) -> None:
    ch = personalising
    assert ch.send(0x00, 0xD6, 0x82, 0x00, BIG, extended=True)[1] == 0x9000
    data, sw = ch.send(0x00, 0xB0, 0x82, 0x00, le=0, extended=True)
    assert (data, sw) == (BIG, 0x9000)
    assert ch.send(0x00, 0xD6, 0x80 | 0x02, 0x00, b"x" * 1, extended=True)[1] == 0x9000
    # offset 0x7FFF + 2 > 32768
    ch.send(0x00, 0xA4, 0x02, 0x0C, b"\x01\x02")
    assert ch.send(0x00, 0xD6, 0x7F, 0xFF, b"xy")[1] == 0x6A84
    assert ch.send(0x00, 0xD6, 0x7F, 0xFF, b"x")[1] == 0x9000


def chain_send(ch: Channel, p1: int, p2: int, chunks: list[bytes]) -> list[int]:
    sws = []
    for i, chunk in enumerate(chunks):
        cla = 0x00 if i == len(chunks) - 1 else 0x10
        sws.append(ch.send(cla, 0xD6, p1, p2, chunk)[1])
    return sws


def test_chained_update_wrapped(personalising: Channel) -> None:
    ch = personalising
    chunks = [BIG[i : i + 200] for i in range(0, 32768, 200)]
    assert chain_send(ch, 0x82, 0x00, chunks) == [0x9000] * len(chunks)
    data, sw = ch.send(0x00, 0xB0, 0x82, 0x00, le=0, extended=True)
    assert (data, sw) == (BIG, 0x9000)


def test_chain_intermediate_changes_nothing(personalising: Channel) -> None:
    ch = personalising
    assert ch.send(0x10, 0xD6, 0x82, 0x00, b"part1")[1] == 0x9000
    assert ch.send(0x00, 0xB0, 0x82, 0x00, le=256) == (b"", 0x9000)  # discards the chain
    assert ch.send(0x00, 0xD6, 0x82, 0x00, b"x")[1] == 0x9000  # a fresh command
    assert ch.send(0x00, 0xB0, 0x82, 0x00, le=256)[0] == b"x"


@pytest.mark.parametrize(("p1", "p2"), [(0x83, 0x00), (0x82, 0x01)])
def test_chain_mismatch_6883(personalising: Channel, p1: int, p2: int) -> None:
    ch = personalising
    assert ch.send(0x10, 0xD6, 0x82, 0x00, b"part1")[1] == 0x9000
    assert ch.send(0x00, 0xD6, p1, p2, b"part2")[1] == 0x6883
    assert ch.send(0x00, 0xB0, 0x82, 0x00, le=256) == (b"", 0x9000)
    assert ch.send(0x00, 0xB0, 0x83, 0x00, le=256) == (b"", 0x9000)


def test_chain_mismatch_sm_status(host: Plain) -> None:
    personalise(host, lock=False)
    host.select()
    ch = channel(host)
    assert ch.send(0x10, 0xD6, 0x83, 0x00, b"part1")[1] == 0x9000
    # plain continuation: closes the channel, then 6883
    assert host.send(0x00, 0xD6, 0x83, 0x00, b"part2") == (b"", 0x6883)
    assert host.read(3) == (b"", 0x9000)


def test_chain_of_plain_update_fails_at_the_end(host: Plain) -> None:
    personalise(host, lock=False)
    host.select()
    assert host.send(0x10, 0xD6, 0x83, 0x00, b"a") == (b"", 0x9000)
    assert host.send(0x00, 0xD6, 0x83, 0x00, b"b") == (b"", 0x6982)


def test_chain_total_limit(personalising: Channel) -> None:
    ch = personalising
    chunk = bytes(255)
    n = 33024 // 255  # 129 chunks = 32895 bytes
    for _ in range(n):
        assert ch.send(0x10, 0xD6, 0x82, 0x00, chunk)[1] == 0x9000
    assert ch.send(0x10, 0xD6, 0x82, 0x00, chunk)[1] == 0x6700  # over 33024: discarded
    assert ch.send(0x00, 0xD6, 0x82, 0x00, b"z")[1] == 0x9000
    assert ch.send(0x00, 0xB0, 0x82, 0x00, le=256)[0] == b"z"


def test_chain_total_too_big_for_file(personalising: Channel) -> None:
    ch = personalising
    for _ in range(129):
        assert ch.send(0x10, 0xD6, 0x82, 0x00, bytes(255))[1] == 0x9000
    assert ch.send(0x00, 0xD6, 0x82, 0x00, bytes(100))[1] == 0x6A84
    assert ch.send(0x00, 0xB0, 0x82, 0x00, le=256) == (b"", 0x9000)


def test_select_discards_chain(personalising: Channel) -> None:
    ch = personalising
    ch.send(0x10, 0xD6, 0x82, 0x00, b"part1")
    ch.send(0x00, 0xA4, 0x02, 0x0C, b"\x01\x03")
    assert ch.send(0x00, 0xD6, 0x82, 0x00, b"new")[1] == 0x9000
    assert ch.send(0x00, 0xB0, 0x82, 0x00, le=256)[0] == b"new"


def test_reset_discards_chain(host: Plain) -> None:
    ch = personalise(host, lock=False)
    ch.send(0x10, 0xD6, 0x83, 0x00, b"part1")
    host.card.reset()
    host.select()
    ch = channel(host)
    assert ch.send(0x00, 0xD6, 0x83, 0x00, b"new")[1] == 0x9000
    assert ch.send(0x00, 0xB0, 0x83, 0x00, le=256)[0] == b"new"


def test_extended_header_short_body(personalising: Channel) -> None:
    ch = personalising
    assert ch.send(0x00, 0xD6, 0x82, 0x00, b"abc", extended=True)[1] == 0x9000
    assert ch.send(0x00, 0xB0, 0x82, 0x00, le=3, extended=True) == (b"abc", 0x9000)
    assert build(0x00, 0xB0, 0x82, 0x00, le=3, extended=True) == bytes.fromhex("00B0820000 0003")
