"""PIN and PUK (sections 5.5-5.7, 7)."""

from __future__ import annotations

import pytest
from sim_host import Plain, pin_block
from sim_support import PIN, PUK, finish, to_personalising

from simulators.card import SimulatedCard

WRONG = pin_block("000000")


def verify(h: Plain, block: bytes | None = None) -> int:
    return h.send(0x00, 0x20, 0x00, 0x81, block or b"")[1]


def tries(card: SimulatedCard) -> tuple[int, int]:
    state = card._store.state
    return state.pin_tries, state.puk_tries


def test_retry_counting_and_blocking(issued: Plain) -> None:
    h = issued
    assert verify(h) == 0x63C3
    assert verify(h, WRONG) == 0x63C2
    assert verify(h, WRONG) == 0x63C1
    assert verify(h) == 0x63C1
    assert verify(h, WRONG) == 0x63C0
    assert verify(h, pin_block(PIN)) == 0x6983
    assert verify(h) == 0x6983
    assert verify(h, WRONG) == 0x6983


def test_verify_resets_counter(issued: Plain, card: SimulatedCard) -> None:
    h = issued
    assert verify(h, WRONG) == 0x63C2
    assert verify(h, pin_block(PIN)) == 0x9000
    assert verify(h) == 0x9000
    assert tries(card)[0] == 3
    assert verify(h, WRONG) == 0x63C2
    assert verify(h) == 0x63C2  # a failed check clears the PIN status


@pytest.mark.parametrize(
    ("p1", "p2", "data", "sw"),
    [
        (0x01, 0x81, pin_block(PIN), 0x6A86),
        (0x00, 0x82, pin_block(PIN), 0x6A88),
        (0x00, 0x81, b"1234567", 0x6700),
        (0x00, 0x81, pin_block(PIN) + b"\xff", 0x6700),
        (0x00, 0x81, b"12345\xff\xff\xff", 0x6A80),  # 5 digits
        (0x00, 0x81, b"12345a\xff\xff", 0x6A80),
        (0x00, 0x81, b"123456\xff1", 0x6A80),  # bad padding
        (0x00, 0x81, b"\xff123456\xff", 0x6A80),
        (0x00, 0x81, b"123456\x00\x00", 0x6A80),
    ],
)
def test_verify_errors_consume_no_try(
    issued: Plain, card: SimulatedCard, p1: int, p2: int, data: bytes, sw: int
) -> None:
    assert issued.send(0x00, 0x20, p1, p2, data)[1] == sw
    assert tries(card)[0] == 3


def test_verify_state_and_not_set(host: Plain) -> None:
    host.select()
    assert verify(host, pin_block(PIN)) == 0x6985  # BLANK
    to_personalising(host)
    assert verify(host, pin_block(PIN)) == 0x6984
    assert verify(host) == 0x6984


def test_pin_formats(host: Plain) -> None:
    ch = to_personalising(host)
    for pin in ("123456", "1234567", "12345678"):
        assert ch.send(0x00, 0x24, 0x01, 0x81, pin_block(pin))[1] == 0x9000
        assert ch.send(0x00, 0x20, 0x00, 0x81, pin_block(pin))[1] == 0x9000
    assert ch.send(0x00, 0x24, 0x01, 0x81, pin_block("12345"))[1] == 0x6A80
    assert ch.send(0x00, 0x24, 0x01, 0x82, pin_block("1234567"))[1] == 0x6A80  # PUK: 8 digits
    assert ch.send(0x00, 0x24, 0x01, 0x82, pin_block("12345678"))[1] == 0x9000


@pytest.mark.parametrize(
    ("p1", "p2", "data", "sw"),
    [
        (0x01, 0x81, pin_block("111111"), 0x6982),  # issuer only
        (0x01, 0x82, pin_block("11111111"), 0x6982),
        (0x00, 0x82, pin_block("11111111") * 2, 0x6A86),  # holder cannot change the PUK
        (0x02, 0x81, pin_block("111111"), 0x6A86),
        (0x00, 0x81, pin_block(PIN), 0x6700),
        (0x00, 0x81, pin_block(PIN) + b"1234\xff\xff\xff\xff", 0x6A80),
        (0x00, 0x81, b"12\xff\xff\xff\xff\xff\xff" + pin_block("111111"), 0x6A80),
    ],
)
def test_change_reference_data_errors(
    issued: Plain, card: SimulatedCard, p1: int, p2: int, data: bytes, sw: int
) -> None:
    assert issued.send(0x00, 0x24, p1, p2, data)[1] == sw
    assert tries(card)[0] == 3


def test_change_pin(issued: Plain, card: SimulatedCard) -> None:
    h = issued
    new = pin_block("24681357")
    assert h.send(0x00, 0x24, 0x00, 0x81, WRONG + new)[1] == 0x63C2
    assert h.send(0x00, 0x24, 0x00, 0x81, pin_block(PIN) + new)[1] == 0x9000
    assert verify(h) == 0x9000  # PIN status set
    assert tries(card)[0] == 3
    h.select()
    assert verify(h, pin_block(PIN)) == 0x63C2
    assert verify(h, new) == 0x9000


def test_change_pin_blocked(issued: Plain) -> None:
    for _ in range(3):
        verify(issued, WRONG)
    assert issued.send(0x00, 0x24, 0x00, 0x81, pin_block(PIN) * 2)[1] == 0x6983


def test_change_reference_data_states(host: Plain) -> None:
    host.select()
    assert host.send(0x00, 0x24, 0x00, 0x81, pin_block(PIN) * 2)[1] == 0x6985  # BLANK
    ch = to_personalising(host)
    assert ch.send(0x00, 0x24, 0x00, 0x81, pin_block(PIN) * 2)[1] == 0x6984  # no PIN yet
    ch = finish(ch, lock=True)
    # ISSUED: the issuer cannot set PIN/PUK any more
    assert ch.send(0x00, 0x24, 0x01, 0x81, pin_block("111111"))[1] == 0x6985
    assert ch.send(0x00, 0x24, 0x01, 0x82, pin_block("11111111"))[1] == 0x6985
    # holder change through the channel works
    assert ch.send(0x00, 0x24, 0x00, 0x81, pin_block(PIN) * 2)[1] == 0x9000
    assert ch.set_status(0x0C) == 0x9000
    assert host.send(0x00, 0x24, 0x00, 0x81, pin_block(PIN) * 2)[1] == 0x6985


def test_puk_unblock_keep_pin(issued: Plain, card: SimulatedCard) -> None:
    h = issued
    for _ in range(3):
        verify(h, WRONG)
    assert verify(h) == 0x6983
    assert h.send(0x00, 0x2C, 0x01, 0x81, pin_block(PUK))[1] == 0x9000
    assert tries(card) == (3, 10)
    assert verify(h) == 0x63C3  # PIN status is not set
    assert verify(h, pin_block(PIN)) == 0x9000


def test_puk_unblock_new_pin(issued: Plain, card: SimulatedCard) -> None:
    h = issued
    for _ in range(3):
        verify(h, WRONG)
    new = pin_block("999999")
    assert h.send(0x00, 0x2C, 0x00, 0x81, pin_block(PUK) + new)[1] == 0x9000
    assert verify(h) == 0x63C3
    assert verify(h, pin_block(PIN)) == 0x63C2
    assert verify(h, new) == 0x9000


def test_puk_blocking(issued: Plain, card: SimulatedCard) -> None:
    h = issued
    wrong_puk = pin_block("00000000")
    for left in range(9, -1, -1):
        assert h.send(0x00, 0x2C, 0x01, 0x81, wrong_puk)[1] == 0x63C0 | left
    assert h.send(0x00, 0x2C, 0x01, 0x81, pin_block(PUK))[1] == 0x6983
    assert tries(card)[1] == 0


def test_puk_mismatch_then_match_resets(issued: Plain, card: SimulatedCard) -> None:
    h = issued
    assert h.send(0x00, 0x2C, 0x01, 0x81, pin_block("00000000"))[1] == 0x63C9
    assert h.send(0x00, 0x2C, 0x01, 0x81, pin_block(PUK))[1] == 0x9000
    assert tries(card) == (3, 10)


@pytest.mark.parametrize(
    ("p1", "p2", "data", "sw"),
    [
        (0x02, 0x81, pin_block(PUK), 0x6A86),
        (0x01, 0x82, pin_block(PUK), 0x6A86),
        (0x01, 0x81, pin_block(PUK) * 2, 0x6700),
        (0x00, 0x81, pin_block(PUK), 0x6700),
        (0x01, 0x81, pin_block("1234567"), 0x6A80),  # PUK must be 8 digits
        (0x00, 0x81, pin_block(PUK) + pin_block("12"), 0x6A80),
    ],
)
def test_reset_retry_counter_errors(
    issued: Plain, card: SimulatedCard, p1: int, p2: int, data: bytes, sw: int
) -> None:
    assert issued.send(0x00, 0x2C, p1, p2, data)[1] == sw
    assert tries(card)[1] == 10


def test_reset_retry_counter_states(host: Plain) -> None:
    host.select()
    assert host.send(0x00, 0x2C, 0x01, 0x81, pin_block(PUK))[1] == 0x6985
    to_personalising(host)
    assert host.send(0x00, 0x2C, 0x01, 0x81, pin_block(PUK))[1] == 0x6984
