"""Robustness: any byte string gets a status word; malformed input never changes state
and never grants access."""

from __future__ import annotations

from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_host import Plain
from sim_support import MASTER_KEY, channel, personalise, to_personalising

from simulators.apdu import MalformedApdu, parse_apdu
from simulators.card import SimulatedCard
from simulators.image import CardState

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def states() -> dict[str, CardState]:
    out = {}
    for name in ("blank", "personalising", "issued", "terminated"):
        card = SimulatedCard.manufacture(master_keys={1: MASTER_KEY})
        card.power_on()
        h = Plain(card)
        if name == "personalising":
            personalise(h, lock=False)
        elif name == "issued":
            personalise(h)
        elif name == "terminated":
            to_personalising(h).set_status(0x0C)
        out[name] = card._store.state
    return out


def fresh(name: str, select: bool, open_channel: bool) -> tuple[SimulatedCard, Plain]:
    card = SimulatedCard(states()[name], image_path=None, timing=None, durable=False)
    card.power_on()
    h = Plain(card)
    if select:
        h.select()
    if open_channel and name != "terminated":
        channel(h)
    return card, h


STATE_NAMES = st.sampled_from(["blank", "personalising", "issued", "terminated"])
PIN_INS = {0x20, 0x24, 0x2C}


def check(card: SimulatedCard, apdu: bytes, *, channel_open: bool) -> None:
    before = card._store.state
    resp = card.transmit(apdu)
    assert isinstance(resp, bytes) and len(resp) >= 2
    sw = int.from_bytes(resp[-2:], "big")
    assert sw != 0x6F00
    assert sw >> 8 in (0x61, 0x62, 0x63, 0x65, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6D, 0x6E, 0x90)
    try:
        parse_apdu(apdu)
    except MalformedApdu:
        assert resp == b"\x67\x00"
        assert card._store.state == before
        return
    if sw != 0x9000 and sw >> 8 not in (0x61, 0x62, 0x63):
        assert resp == resp[-2:], "error SWs carry no data"
    after = card._store.state
    if after != before:
        # the only state a random command may change without the issuer channel is a
        # PIN/PUK retry counter (a guess), never anything else
        assert apdu[1] in PIN_INS and not channel_open
        assert (after.files, after.life_cycle, after.card_key) == (
            before.files,
            before.life_cycle,
            before.card_key,
        )
    if not channel_open:
        ins, p1 = apdu[1], apdu[2]
        granted_write = ins == 0xD6 or (ins == 0x47 and p1 == 0x00) or ins == 0xF0
        assert not (granted_write and sw == 0x9000 and apdu[0] & 0x10 == 0)


@SETTINGS
@given(STATE_NAMES, st.booleans(), st.binary(max_size=300))
def test_random_bytes(name: str, select: bool, apdu: bytes) -> None:
    card, _ = fresh(name, select, False)
    check(card, apdu, channel_open=False)


HEADERS = st.tuples(
    st.sampled_from([0x00, 0x04, 0x10, 0x14, 0x80, 0x84, 0x01, 0x90, 0xFF]),
    st.sampled_from(
        [0xA4, 0xB0, 0xD6, 0x84, 0x20, 0x24, 0x2C, 0x88, 0x47, 0xC0, 0x50, 0x82, 0xF0, 0x22, 0x86]
    )
    | st.integers(0, 255),
    st.sampled_from([0x00, 0x01, 0x02, 0x04, 0x33, 0x80, 0x81, 0x82, 0x85, 0xFF])
    | st.integers(0, 255),
    st.sampled_from([0x00, 0x01, 0x03, 0x04, 0x05, 0x0C, 0x81, 0x82]) | st.integers(0, 255),
)


def encode(header: tuple[int, int, int, int], body: bytes, le: int | None, ext: bool) -> bytes:
    out = bytes(header)
    if ext:
        if body:
            out += b"\x00" + len(body).to_bytes(2, "big") + body
        if le is not None:
            out += (b"" if body else b"\x00") + le.to_bytes(2, "big")
    else:
        if body:
            out += bytes([len(body)]) + body
        if le is not None:
            out += bytes([le & 0xFF])
    return out


@SETTINGS
@given(
    STATE_NAMES,
    st.booleans(),
    HEADERS,
    st.binary(max_size=300) | st.sampled_from([b"123456\xff\xff", b"12345678", bytes(16)]),
    st.none() | st.integers(0, 0xFFFF),
    st.booleans(),
    st.integers(-2, 2),
)
def test_random_valid_headers(
    name: str,
    select: bool,
    header: tuple[int, int, int, int],
    body: bytes,
    le: int | None,
    ext: bool,
    cut: int,
) -> None:
    card, _ = fresh(name, select, False)
    apdu = encode(header, body[:255] if not ext else body, le, ext)
    if cut < 0:
        apdu = apdu[:cut]  # truncated
    elif cut > 0:
        apdu += bytes(cut)  # trailing bytes
    check(card, apdu, channel_open=False)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["blank", "personalising", "issued"]),
    st.sampled_from([0x04, 0x14, 0x84]),
    st.sampled_from([0xB0, 0xD6, 0x84, 0x20, 0x24, 0x47, 0x88, 0xA4, 0xF0, 0x82]),
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=80),
)
def test_forged_wrapped_commands(
    name: str, cla: int, ins: int, p1: int, p2: int, body: bytes
) -> None:
    """With the channel open, wrapped commands with random (unauthenticated) bodies are
    refused and change nothing."""
    card, _ = fresh(name, True, True)
    before = card._store.state
    resp = card.transmit(encode((cla, ins, p1, p2), body, 0, False))
    sw = int.from_bytes(resp[-2:], "big")
    assert sw != 0x9000 and sw != 0x6F00
    assert card._store.state == before


def test_sequences_never_crash() -> None:
    """A long random session (commands interleaved with resets) never yields 6F00."""
    import random

    rng = random.Random(1234)
    card, _ = fresh("issued", True, False)
    for _ in range(3000):
        if rng.random() < 0.01:
            card.reset()
        hdr = (
            rng.choice([0, 4, 0x10, 0x80, 0x84]),
            rng.choice([0xA4, 0xB0, 0xD6, 0x20, 0xC0, 0x88, 0x47, 0x84, 0x50, 0x82]),
            rng.randrange(256),
            rng.randrange(256),
        )
        body = rng.randbytes(rng.choice([0, 1, 2, 8, 16, 20]))
        le = rng.choice([None, 0, 16, 255])
        resp = card.transmit(encode(hdr, body, le, rng.random() < 0.2))
        assert resp[-2:] != b"\x6f\x00"
