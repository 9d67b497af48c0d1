"""Life cycle (section 4), SET STATUS, GENERATE and INTERNAL AUTHENTICATE (5.8, 5.9, 5.12)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from sim_host import Channel, Plain, pin_block
from sim_support import PIN, channel, finish, personalise, to_personalising

from simulators.card import SimulatedCard

BLANK, PERSO, ISSUED, TERMINATED = 0x01, 0x03, 0x05, 0x0C


def lcs(card: SimulatedCard) -> int:
    return int(card.life_cycle)


def public_key(do: bytes) -> ec.EllipticCurvePublicKey:
    assert do[:5] == bytes.fromhex("7F49438641") and len(do) == 70
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), do[5:])


def check_signature(do: bytes, challenge: bytes, sig: bytes) -> None:
    assert len(sig) == 64
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    digest = hashlib.sha256(b"PERMIT-CARD-AUTH-v1" + challenge).digest()
    public_key(do).verify(der, digest, ec.ECDSA(Prehashed(hashes.SHA256())))


@pytest.mark.parametrize(
    ("start", "target", "sw"),
    [
        (BLANK, PERSO, 0x9000),
        (BLANK, TERMINATED, 0x9000),
        (BLANK, ISSUED, 0x6985),
        (BLANK, BLANK, 0x6985),
        (PERSO, BLANK, 0x9000),
        (PERSO, TERMINATED, 0x9000),
        (PERSO, PERSO, 0x6985),
        (ISSUED, TERMINATED, 0x9000),
        (ISSUED, BLANK, 0x6985),
        (ISSUED, PERSO, 0x6985),
        (ISSUED, ISSUED, 0x6985),
        (TERMINATED, BLANK, 0x6985),
        (TERMINATED, PERSO, 0x6985),
        (TERMINATED, ISSUED, 0x6985),
    ],
)
def test_transitions(host: Plain, card: SimulatedCard, start: int, target: int, sw: int) -> None:
    host.select()
    ch = channel(host)
    if start in (PERSO, ISSUED, TERMINATED):
        ch = personalise(host, lock=start != PERSO)
    if start == TERMINATED:
        assert ch.set_status(TERMINATED) == 0x9000
    assert lcs(card) == start
    assert ch.set_status(target) == sw
    assert lcs(card) == (target if sw == 0x9000 else start)


@pytest.mark.parametrize("missing", ["key", "record", "pin", "puk"])
def test_lock_conditions(host: Plain, card: SimulatedCard, missing: str) -> None:
    ch = to_personalising(host)
    if missing != "record":
        assert ch.update(2, 0, b"rec") == 0x9000
    if missing != "key":
        assert ch.send(0x00, 0x47, 0x00, 0x01)[1] == 0x9000
    if missing != "pin":
        assert ch.send(0x00, 0x24, 0x01, 0x81, pin_block(PIN))[1] == 0x9000
    if missing != "puk":
        assert ch.send(0x00, 0x24, 0x01, 0x82, pin_block("12345678"))[1] == 0x9000
    assert ch.set_status(ISSUED) == 0x6985
    assert lcs(card) == PERSO


def test_set_status_errors(host: Plain) -> None:
    host.select()
    ch = channel(host)
    assert ch.send(0x80, 0xF0, 0x01, PERSO)[1] == 0x6A86
    assert ch.send(0x80, 0xF0, 0x00, 0x07)[1] == 0x6A86
    assert ch.send(0x80, 0xF0, 0x00, PERSO, b"x")[1] == 0x6700
    assert ch.set_status(PERSO) == 0x9000


def test_wipe(host: Plain, card: SimulatedCard) -> None:
    ch = personalise(host, lock=False)
    assert ch.update(5, 0, b"holder") == 0x9000
    serial = card.serial
    assert ch.set_status(BLANK) == 0x9000
    state = card._store.state
    assert state.files == {} and state.card_key is None and state.pin is None
    assert state.puk is None and state.serial == serial
    # re-personalisable, same keys
    assert ch.set_status(PERSO) == 0x9000
    assert ch.send(0x00, 0xB0, 0x82, 0x00, le=256) == (b"", 0x9000)
    finish(ch, lock=True)
    assert lcs(card) == ISSUED


def test_terminate_erases(host: Plain, card: SimulatedCard) -> None:
    ch = personalise(host, lock=True)
    assert ch.set_status(TERMINATED) == 0x9000
    state = card._store.state
    assert state.files == {} and state.card_key is None and state.pin is None
    host.select()
    assert host.send(0x00, 0x20, 0x00, 0x81, pin_block(PIN))[1] == 0x6985
    assert host.send(0x00, 0x88, 0x00, 0x01, bytes(8))[1] == 0x6985
    assert host.send(0x00, 0x47, 0x01, 0x01)[1] == 0x6985
    assert host.raw(bytes.fromhex("00C0000000"))[1] == 0x6985  # GET RESPONSE still answered


def test_generate_and_internal_authenticate(host: Plain, card: SimulatedCard) -> None:
    ch = to_personalising(host)
    assert ch.send(0x00, 0x47, 0x01, 0x01) == (b"", 0x6A88)  # no key yet
    do1, sw = ch.send(0x00, 0x47, 0x00, 0x01)
    assert sw == 0x9000
    do2, sw = ch.send(0x00, 0x47, 0x00, 0x01)  # replaces the key
    assert sw == 0x9000 and do1 != do2
    assert ch.send(0x00, 0x47, 0x01, 0x01) == (do2, 0x9000)
    assert ch.send(0x00, 0xB0, 0x84, 0x00, le=256) == (do2, 0x9000)
    challenge = b"verifier-challenge"
    sig, sw = ch.send(0x00, 0x88, 0x00, 0x01, challenge)  # wrapped, for read-back checks
    assert sw == 0x9000
    check_signature(do2, challenge, sig)
    with pytest.raises(InvalidSignature):
        check_signature(do1, challenge, sig)
    # plain, any challenge length 8-64
    for n in (8, 64):
        c = bytes(range(n))
        sig, sw = host.send(0x00, 0x88, 0x00, 0x01, c, le=256)
        assert sw == 0x9000
        check_signature(do2, c, sig)
    assert host.send(0x00, 0x47, 0x01, 0x01) == (do2, 0x9000)


def test_generate_errors(host: Plain) -> None:
    host.select()
    ch = channel(host)
    assert ch.send(0x00, 0x47, 0x00, 0x01)[1] == 0x6985  # BLANK
    assert ch.send(0x00, 0x47, 0x01, 0x01)[1] == 0x6985  # BLANK (section 4)
    assert ch.set_status(PERSO) == 0x9000
    assert ch.send(0x00, 0x47, 0x02, 0x01)[1] == 0x6A86
    assert ch.send(0x00, 0x47, 0x00, 0x02)[1] == 0x6A88
    assert ch.send(0x00, 0x47, 0x00, 0x01, b"x")[1] == 0x6700
    assert host.send(0x00, 0x47, 0x00, 0x01)[1] == 0x6982  # not through the channel
    ch = finish(channel(host), lock=True)
    assert ch.send(0x00, 0x47, 0x00, 0x01)[1] == 0x6985  # ISSUED
    assert ch.send(0x00, 0x47, 0x01, 0x01)[1] == 0x9000


@pytest.mark.parametrize(
    ("p1", "p2", "data", "sw"),
    [
        (0x01, 0x01, bytes(8), 0x6A86),
        (0x00, 0x02, bytes(8), 0x6A88),
        (0x00, 0x01, bytes(7), 0x6700),
        (0x00, 0x01, bytes(65), 0x6700),
        (0x00, 0x01, b"", 0x6700),
    ],
)
def test_internal_authenticate_errors(
    issued: Plain, p1: int, p2: int, data: bytes, sw: int
) -> None:
    assert issued.send(0x00, 0x88, p1, p2, data) == (b"", sw)


def test_internal_authenticate_states(host: Plain) -> None:
    host.select()
    assert host.send(0x00, 0x88, 0x00, 0x01, bytes(8))[1] == 0x6985  # BLANK
    to_personalising(host)
    assert host.send(0x00, 0x88, 0x00, 0x01, bytes(8))[1] == 0x6A88  # no key


def test_blank_allows_only_listed(host: Plain) -> None:
    host.select()
    assert host.send(0x00, 0x84, 0x00, 0x00, le=8)[1] == 0x9000
    assert host.read(1)[1] == 0x9000
    ch: Channel = channel(host)
    assert ch.update(3, 0, b"x") == 0x6985
    assert ch.send(0x00, 0x24, 0x01, 0x81, pin_block(PIN))[1] == 0x6985
    assert ch.send(0x00, 0x24, 0x01, 0x82, pin_block("12345678"))[1] == 0x6985
